//! Metrics of the deployed functions as CloudWatch Embedded Metric Format log lines.

/// One CloudWatch Embedded Metric Format line: Lambda's log ingestion turns each named
/// value into a metric of `namespace` with the dimension `Environment`, so a function
/// publishes metrics by printing this to standard output — no CloudWatch API call, no
/// permission. Format: <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>.
pub fn emf_line(
    namespace: &str,
    environment: &str,
    timestamp_ms: i64,
    counts: &[(&str, u64)],
) -> String {
    let mut line = serde_json::Map::new();
    line.insert(
        "_aws".into(),
        serde_json::json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [["Environment"]],
                "Metrics": counts.iter().map(|(name, _)| serde_json::json!({"Name": name, "Unit": "Count"})).collect::<Vec<_>>(),
            }],
        }),
    );
    line.insert("Environment".into(), environment.into());
    for (name, value) in counts {
        line.insert((*name).to_owned(), (*value).into());
    }
    serde_json::Value::Object(line).to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_emf_line_declares_each_metric_and_carries_its_value() {
        let line: serde_json::Value = serde_json::from_str(&super::emf_line(
            "RAVIS",
            "dev",
            1_700_000_000_000,
            &[("OverdueWorkItems", 3), ("ReconciledChildren", 0)],
        ))
        .unwrap();
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "RAVIS");
        assert_eq!(
            directive["Dimensions"],
            serde_json::json!([["Environment"]])
        );
        assert_eq!(line["Environment"], "dev");
        assert_eq!(directive["Metrics"][0]["Name"], "OverdueWorkItems");
        assert_eq!(line["_aws"]["Timestamp"], 1_700_000_000_000i64);
        assert_eq!(line["OverdueWorkItems"], 3);
        assert_eq!(line["ReconciledChildren"], 0);
    }
}
