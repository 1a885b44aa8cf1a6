//! Test support.

pub mod audit;
pub mod audit_archive;
pub mod auth;
pub mod aws;
pub mod catalogue;
pub mod ckan_receiver;
pub mod contract;
pub mod embedded;
pub mod exports;
pub mod fhir_receiver;
pub mod intake;
pub mod lake;
pub mod pathway;
pub mod registry;
pub mod reports;
pub mod viis_receiver;
