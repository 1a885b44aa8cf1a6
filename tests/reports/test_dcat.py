"""Checks outside Rust of what a release publishes (issue #13).

The `report-sample` binary (tests/src/bin/report-sample.rs) renders a synthetic release;
these tests read its files:

- metadata.jsonld is validated with pySHACL against the mandatory DCAT-AP 3.0.1 shapes
  in dcat-ap-3.0.1-mandatory.ttl (written from the specification), and read with rdflib
  for the recommended properties RAVIS promises (both languages, theme, licence, ...);
- report.html and report.lv.html are parsed with html.parser: every <svg> has a <title>
  and a <desc>, role="img" and a table beside it; no script, no event handler, nothing
  fetched.

RAVIS_REPORT_SAMPLE_DIR names a directory the binary has written (scripts/reports-venv.sh
sets it); without it the binary is run through cargo into a temporary directory.
"""

import copy
import json
import os
import pathlib
import subprocess
from html.parser import HTMLParser

import pytest
from pyshacl import validate
from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCTERMS, FOAF, RDF

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SHAPES = HERE / "dcat-ap-3.0.1-mandatory.ttl"
DCAT = Namespace("http://www.w3.org/ns/dcat#")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
EU = "http://publications.europa.eu/resource/authority/"

# rdflib's JSON-LD parser still builds a ConjunctiveGraph internally.
pytestmark = pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory):
    given = os.environ.get("RAVIS_REPORT_SAMPLE_DIR")
    if given:
        return pathlib.Path(given)
    out = tmp_path_factory.mktemp("report-sample")
    subprocess.run(
        ["cargo", "run", "--quiet", "-p", "ravis-tests", "--bin", "report-sample", "--", "--out", str(out)],
        cwd=ROOT,
        check=True,
    )
    return out


@pytest.fixture(scope="session")
def metadata(sample_dir):
    return json.loads((sample_dir / "metadata.jsonld").read_text(encoding="utf-8"))


def graph_of(document):
    return Graph().parse(data=json.dumps(document), format="json-ld")


def shapes():
    return Graph().parse(SHAPES, format="turtle")


def conforms(document):
    ok, _, text = validate(graph_of(document), shacl_graph=shapes(), inference="none")
    return ok, text


def test_metadata_conforms_to_the_mandatory_dcat_ap_shapes(metadata):
    ok, text = conforms(metadata)
    assert ok, text
    g = graph_of(metadata)
    # The shapes did meet their targets: a conforming empty graph would prove nothing.
    assert len(list(g.subjects(RDF.type, DCAT.Catalog))) == 1
    datasets = list(g.subjects(RDF.type, DCAT.Dataset))
    assert len(datasets) == 2
    assert len(list(g.subjects(RDF.type, DCAT.Distribution))) == len(datasets)
    assert len(list(g.subjects(RDF.type, FOAF.Agent))) == 1


def without(document, node_type, prop):
    broken = copy.deepcopy(document)
    node = next(n for n in broken["@graph"] if n["@type"] == node_type)
    del node[prop]
    return broken


@pytest.mark.parametrize(
    "node_type,prop,path",
    [
        ("dcat:Catalog", "dct:title", "title"),
        ("dcat:Catalog", "dct:description", "description"),
        ("dcat:Catalog", "dct:publisher", "publisher"),
        ("dcat:Catalog", "dcat:dataset", "dataset"),
        ("dcat:Dataset", "dct:title", "title"),
        ("dcat:Dataset", "dct:description", "description"),
        ("dcat:Distribution", "dcat:accessURL", "accessURL"),
        ("foaf:Agent", "foaf:name", "name"),
    ],
)
def test_the_shapes_refuse_metadata_missing_a_mandatory_property(metadata, node_type, prop, path):
    ok, text = conforms(without(metadata, node_type, prop))
    assert not ok
    assert "MinCountConstraintComponent" in text
    assert path in text


def test_every_dataset_speaks_latvian_and_english_and_has_the_recommended_properties(metadata):
    g = graph_of(metadata)
    for ds in g.subjects(RDF.type, DCAT.Dataset):
        for prop in (DCTERMS.title, DCTERMS.description, DCAT.keyword):
            langs = {o.language for o in g.objects(ds, prop) if isinstance(o, Literal)}
            assert {"lv", "en"} <= langs, (ds, prop, langs)
        assert URIRef(EU + "data-theme/HEAL") in set(g.objects(ds, DCAT.theme))
        assert URIRef(EU + "country/LVA") in set(g.objects(ds, DCTERMS.spatial))
        (period,) = g.objects(ds, DCTERMS.temporal)
        assert (period, RDF.type, DCTERMS.PeriodOfTime) in g
        assert str(g.value(period, DCAT.startDate)) == "2026-01-01"
        assert str(g.value(period, DCAT.endDate)) == "2026-12-31"
        (contact,) = g.objects(ds, DCAT.contactPoint)
        assert (contact, RDF.type, VCARD.Kind) in g
        assert str(g.value(contact, VCARD.hasEmail)).startswith("mailto:")
        assert g.value(ds, DCTERMS.identifier) is not None
        standard = g.value(ds, DCTERMS.conformsTo)
        assert any("ATVK" in str(t) for t in g.objects(standard, DCTERMS.title))
        (dist,) = g.objects(ds, DCAT.distribution)
        access = str(g.value(dist, DCAT.accessURL))
        assert access.startswith("https://") and access.endswith(".csv")
        assert str(g.value(dist, DCAT.downloadURL)) == access
        assert g.value(dist, DCTERMS.format) == URIRef(EU + "file-type/CSV")
        assert g.value(dist, DCAT.mediaType) == URIRef("https://www.iana.org/assignments/media-types/text/csv")
        assert g.value(dist, DCTERMS.license) == URIRef(EU + "licence/CC_BY_4_0")


class Page(HTMLParser):
    """Every element with its attributes and the open elements above it."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []
        self.elements = []  # (tag, attrs, ancestors)

    VOID = {"meta", "link", "br", "hr", "img", "input", "wbr"}

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs), tuple(self.stack)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, dict(attrs), tuple(self.stack)))

    def handle_endtag(self, tag):
        if tag in self.stack:
            while self.stack.pop() != tag:
                pass


@pytest.mark.parametrize("name", ["report.html", "report.lv.html"])
def test_every_svg_has_a_title_and_the_page_runs_nothing(sample_dir, name):
    text = (sample_dir / name).read_text(encoding="utf-8")
    page = Page()
    page.feed(text)
    page.close()
    svgs = [(attrs, i) for i, (tag, attrs, _) in enumerate(page.elements) if tag == "svg"]
    assert len(svgs) == 3
    for attrs, _ in svgs:
        assert attrs.get("role") == "img"
        assert attrs.get("aria-labelledby")
    for kind in ("title", "desc"):
        # The svg's own <title>/<desc>: a direct child, not one inside a bar.
        owners = [anc for tag, _, anc in page.elements if tag == kind and anc and anc[-1] == "svg"]
        assert len(owners) == len(svgs), kind
    tags = [tag for tag, _, _ in page.elements]
    assert tags.count("table") == len(svgs)
    assert "script" not in tags
    for tag, attrs, _ in page.elements:
        assert not any(a.startswith("on") for a in attrs), (tag, attrs)
        assert "style" not in attrs and "src" not in attrs and "href" not in attrs, (tag, attrs)
    csp = [a["content"] for t, a, _ in page.elements if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and csp[0].startswith("default-src 'none'")
    lang = [a["lang"] for t, a, _ in page.elements if t == "html"]
    assert lang == (["lv"] if name == "report.lv.html" else ["en"])
    # A dataset title with markup in it arrives as text.
    escaped = "&lt;pie speciālistiem&gt;" if name == "report.lv.html" else "&lt;to specialists&gt;"
    assert escaped in text
    assert "to" not in tags and "pie" not in tags
