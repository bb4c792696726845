"""Record detection on the shapes people bring (issue 11's table): one row per real record in wide
mode. Each document is a small one written for this test in the shape of the public format."""

from __future__ import annotations

import pytest

from test_xmlflat import convert, write

RSS = """<?xml version="1.0"?>
<rss version="2.0"><channel><title>News</title><link>http://example.org/</link>
<description>All the news, with a long description of the channel that is longer than the items</description>
<image><url>http://example.org/logo.png</url><title>News</title></image>
<item><title>One</title><link>http://example.org/1</link></item>
<item><title>Two</title><link>http://example.org/2</link><category>a</category></item>
</channel></rss>"""

ATOM = """<feed xmlns="http://www.w3.org/2005/Atom"><title>Feed</title><id>urn:feed</id>
<author><name>Long Author Name Of The Whole Feed</name><email>someone@example.org</email></author>
<entry><title>First</title><id>urn:1</id></entry><entry><title>Second</title><id>urn:2</id></entry></feed>"""

OAI_RECORDS = """<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"
  xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" xmlns:dc="http://purl.org/dc/elements/1.1/">
<responseDate>2024-01-01T00:00:00Z</responseDate><request verb="ListRecords">http://example.org/oai</request>
<ListRecords>
<record><header><identifier>oai:1</identifier><datestamp>2024</datestamp><setSpec>a</setSpec><setSpec>b</setSpec></header>
<metadata><oai_dc:dc><dc:title>T1</dc:title><dc:creator>C1</dc:creator><dc:creator>C2</dc:creator></oai_dc:dc></metadata></record>
<record><header><identifier>oai:2</identifier><datestamp>2024</datestamp></header>
<metadata><oai_dc:dc><dc:title>T2</dc:title></oai_dc:dc></metadata></record>
<resumptionToken cursor="0">token</resumptionToken>
</ListRecords></OAI-PMH>"""

OAI_SETS = """<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><responseDate>2024-01-01T00:00:00Z</responseDate>
<request verb="ListSets">http://example.org/oai/with/a/rather/long/address/for/the/request/element</request>
<ListSets><set><setSpec>a</setSpec><setName>A</setName></set><set><setSpec>b</setSpec><setName>B</setName></set>
</ListSets></OAI-PMH>"""

CROSSREF_HEAD = """<doi_batch xmlns="http://www.crossref.org/schema/4.4.2" version="4.4.2">
<head><doi_batch_id>b1</doi_batch_id></head><body><journal>
<journal_metadata><full_title>J</full_title></journal_metadata>"""
CROSSREF_ARTICLE = """<journal_article><titles><title>A{n}</title></titles>
<doi_data><doi>10.1/{n}</doi></doi_data>{citations}</journal_article>"""
CITATION = """<citation key="r{k}"><journal_title>Cited journal number {k}</journal_title>
<author>Someone with a long name {k}</author><cYear>20{k:02d}</cYear></citation>"""


def crossref(articles: int, citations: int) -> str:
    cites = ("<citation_list>" + "".join(CITATION.format(k=k) for k in range(citations)) + "</citation_list>"
             if citations else "")
    return (CROSSREF_HEAD + "".join(CROSSREF_ARTICLE.format(n=n, citations=cites) for n in range(articles))
            + "</journal></body></doi_batch>")


PUBMED = """<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2024//EN"
  "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_240101.dtd">
<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>1</PMID><Article><ArticleTitle>T</ArticleTitle>
<AuthorList>""" + "".join(f"<Author><LastName>Author number {i}</LastName><ForeName>F</ForeName></Author>"
                          for i in range(12)) + """</AuthorList></Article></MedlineCitation>
</PubmedArticle></PubmedArticleSet>"""

MARC = """<collection xmlns="http://www.loc.gov/MARC21/slim">
<record><leader>00000nam a2200000 a 4500</leader><controlfield tag="001">1</controlfield>
<datafield tag="245" ind1="1" ind2="0"><subfield code="a">Title one</subfield></datafield>
<datafield tag="650" ind1=" " ind2="0"><subfield code="a">Subject</subfield></datafield></record>
<record><leader>00000nam a2200000 a 4500</leader><controlfield tag="001">2</controlfield>
<datafield tag="245" ind1="1" ind2="0"><subfield code="a">Title two</subfield></datafield></record>
</collection>"""

DBLP = """<?xml version="1.0" encoding="ISO-8859-1"?>
<!DOCTYPE dblp SYSTEM "dblp.dtd">
<dblp><article key="journals/a/1"><author>J&uuml;rgen M&uuml;ller</author><title>On A.</title><year>2001</year></article>
<inproceedings key="conf/b/2"><author>Ana</author><author>Bo</author><title>On B.</title><year>2002</year></inproceedings>
<article key="journals/a/3"><author>Cy</author><title>On C.</title><year>2003</year></article>
<phdthesis key="phd/4"><author>Di</author><title>On D.</title><year>2004</year></phdthesis></dblp>"""

UBL = """<{root} xmlns="urn:oasis:names:specification:ubl:schema:xsd:{root}-2"
  xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
  xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
<cbc:ID>DOC-1</cbc:ID><cbc:IssueDate>2024-01-31</cbc:IssueDate>
<cac:AccountingSupplierParty><cac:Party><cac:PartyName><cbc:Name>Seller Company With A Long Name Ltd</cbc:Name>
</cac:PartyName><cac:PostalAddress><cbc:StreetName>Main Street 1</cbc:StreetName><cbc:CityName>Springfield</cbc:CityName>
</cac:PostalAddress></cac:Party></cac:AccountingSupplierParty>
<cac:AccountingCustomerParty><cac:Party><cac:PartyName><cbc:Name>Buyer Company With A Long Name Inc</cbc:Name>
</cac:PartyName></cac:Party></cac:AccountingCustomerParty>
<cac:LegalMonetaryTotal><cbc:PayableAmount currencyID="EUR">50.00</cbc:PayableAmount></cac:LegalMonetaryTotal>
<cac:{line}><cbc:ID>1</cbc:ID><cbc:{quantity} unitCode="EA">2</cbc:{quantity}><cac:Item><cbc:Name>Widget</cbc:Name></cac:Item></cac:{line}>
<cac:{line}><cbc:ID>2</cbc:ID><cbc:{quantity} unitCode="EA">3</cbc:{quantity}><cac:Item><cbc:Name>Gadget</cbc:Name></cac:Item></cac:{line}>
</{root}>"""

PAIN_001 = """<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"><CstmrCdtTrfInitn>
<GrpHdr><MsgId>M1</MsgId><CreDtTm>2024-01-31T10:00:00</CreDtTm><NbOfTxs>3</NbOfTxs></GrpHdr>
<PmtInf><PmtInfId>P1</PmtInfId><Dbtr><Nm>Payer</Nm></Dbtr>
<CdtTrfTxInf><PmtId><EndToEndId>E1</EndToEndId></PmtId><Amt><InstdAmt Ccy="EUR">10.00</InstdAmt></Amt><Cdtr><Nm>A</Nm></Cdtr></CdtTrfTxInf>
<CdtTrfTxInf><PmtId><EndToEndId>E2</EndToEndId></PmtId><Amt><InstdAmt Ccy="EUR">20.00</InstdAmt></Amt><Cdtr><Nm>B</Nm></Cdtr></CdtTrfTxInf>
</PmtInf><PmtInf><PmtInfId>P2</PmtInfId><Dbtr><Nm>Payer</Nm></Dbtr>
<CdtTrfTxInf><PmtId><EndToEndId>E3</EndToEndId></PmtId><Amt><InstdAmt Ccy="EUR">30.00</InstdAmt></Amt><Cdtr><Nm>C</Nm></Cdtr></CdtTrfTxInf>
</PmtInf></CstmrCdtTrfInitn></Document>"""

PAIN_008 = """<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.008.001.02"><CstmrDrctDbtInitn>
<GrpHdr><MsgId>M2</MsgId><NbOfTxs>2</NbOfTxs></GrpHdr>
<PmtInf><PmtInfId>P1</PmtInfId><Cdtr><Nm>Collector</Nm></Cdtr>
<DrctDbtTxInf><PmtId><EndToEndId>D1</EndToEndId></PmtId><InstdAmt Ccy="EUR">5.00</InstdAmt><Dbtr><Nm>X</Nm></Dbtr></DrctDbtTxInf>
<DrctDbtTxInf><PmtId><EndToEndId>D2</EndToEndId></PmtId><InstdAmt Ccy="EUR">6.00</InstdAmt><Dbtr><Nm>Y</Nm></Dbtr></DrctDbtTxInf>
</PmtInf></CstmrDrctDbtInitn></Document>"""

CAMT_054 = """<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.02"><BkToCstmrDbtCdtNtfctn>
<GrpHdr><MsgId>N1</MsgId></GrpHdr><Ntfctn><Id>n</Id><Acct><Id><IBAN>DE00123</IBAN></Id></Acct>
<Ntry><Amt Ccy="EUR">30.00</Amt><NtryDtls>
<TxDtls><Refs><EndToEndId>T1</EndToEndId></Refs><AmtDtls><TxAmt><Amt Ccy="EUR">10.00</Amt></TxAmt></AmtDtls></TxDtls>
<TxDtls><Refs><EndToEndId>T2</EndToEndId></Refs><AmtDtls><TxAmt><Amt Ccy="EUR">20.00</Amt></TxAmt></AmtDtls></TxDtls>
</NtryDtls></Ntry>
<Ntry><Amt Ccy="EUR">5.00</Amt><NtryDtls><TxDtls><Refs><EndToEndId>T3</EndToEndId></Refs></TxDtls></NtryDtls></Ntry>
</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>"""

GPX = """<gpx xmlns="http://www.topografix.com/GPX/1/1" version="1.1" creator="test">
<metadata><name>Walk</name></metadata>
<trk><name>Track one</name><trkseg>""" + "".join(
    f'<trkpt lat="52.{i:04d}" lon="13.{i:04d}"><ele>3{i}</ele><time>2024-01-01T00:00:{i:02d}Z</time></trkpt>'
    for i in range(30)) + """</trkseg><trkseg><trkpt lat="53.0" lon="14.0"><ele>1</ele></trkpt></trkseg></trk>
<trk><name>Track two</name><trkseg><trkpt lat="54.0" lon="15.0"><ele>2</ele></trkpt></trkseg></trk></gpx>"""

KML = """<kml xmlns="http://www.opengis.net/kml/2.2"><Document><name>Doc</name>
<Placemark><name>top</name><Point><coordinates>1,1</coordinates></Point></Placemark>
<Folder><name>Outer</name>
  <Placemark><name>in outer</name><Point><coordinates>2,2</coordinates></Point></Placemark>
  <Folder><name>Inner</name><Placemark><name>in inner</name><Point><coordinates>3,3</coordinates></Point></Placemark></Folder>
</Folder>
<Folder><name>Empty folder</name><description>no placemarks here</description></Folder>
</Document></kml>"""

SPREADSHEET = """<?xml version="1.0"?><?mso-application progid="Excel.Sheet"?>
<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet" xmlns:ss="urn:schemas-microsoft-com:office:spreadsheet">
<Styles><Style ss:ID="Default"/></Styles>
<Worksheet ss:Name="One"><Table>
<Row><Cell><Data ss:Type="String">name</Data></Cell><Cell><Data ss:Type="String">qty</Data></Cell></Row>
<Row><Cell><Data ss:Type="String">apple</Data></Cell><Cell><Data ss:Type="Number">3</Data></Cell></Row>
</Table></Worksheet>
<Worksheet ss:Name="Two"><Table><Row><Cell><Data ss:Type="String">pear</Data></Cell></Row></Table></Worksheet>
</Workbook>"""

ODF = """<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
  xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"
  office:version="1.2"><office:automatic-styles/><office:body><office:spreadsheet>
<table:table table:name="Sheet1"><table:table-column/>
<table:table-row><table:table-cell office:value-type="string"><text:p>a</text:p></table:table-cell><table:table-cell><text:p>b</text:p></table:table-cell></table:table-row>
<table:table-row><table:table-cell office:value-type="float" office:value="1"><text:p>1</text:p></table:table-cell></table:table-row>
<table:table-row><table:table-cell><text:p>c</text:p></table:table-cell></table:table-row>
</table:table></office:spreadsheet></office:body></office:document-content>"""

ROWSET = """<?xml version="1.0"?><ROWSET><ROW><ID>1</ID><NAME>a</NAME></ROW><ROW><ID>2</ID><NAME>b</NAME></ROW>
<ROW><ID>3</ID><NAME/></ROW></ROWSET>"""
ROWSET_ONE = """<ROWSET><ROW><ID>1</ID><NAME>a</NAME></ROW></ROWSET>"""
TABLE_ROW = """<table name="t"><row><c1>1</c1><c2>x</c2></row><row><c1>2</c1><c2>y</c2></row></table>"""

LAYOUT = """<LinearLayout xmlns:android="http://schemas.android.com/apk/res/android" android:orientation="vertical">
<TextView android:id="@+id/a" android:text="Hello"/><TextView android:id="@+id/b" android:text="World"/>
<LinearLayout android:orientation="horizontal"><Button android:id="@+id/c" android:text="OK"/>
<Button android:id="@+id/d" android:text="Cancel"/></LinearLayout></LinearLayout>"""
SVG = """<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100"><g id="layer">
<rect x="1" y="1" width="10" height="10"/><rect x="20" y="1" width="10" height="10"/>
<circle cx="50" cy="50" r="5"/><path d="M 0 0 L 10 10 L 20 0 L 30 10 L 40 0 Z"/></g></svg>"""
PLIST = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict><key>CFBundleName</key><string>App</string><key>Items</key>
<array><dict><key>a</key><integer>1</integer></dict><dict><key>b</key><integer>2</integer></dict></array></dict></plist>"""
POM = """<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>org.example</groupId><artifactId>app</artifactId><version>1.0</version><dependencies>
<dependency><groupId>org.example.long.group.name</groupId><artifactId>library-one-with-a-long-name</artifactId><version>1.2.3</version></dependency>
<dependency><groupId>org.example.long.group.name</groupId><artifactId>library-two-with-a-long-name</artifactId><version>4.5.6</version></dependency>
</dependencies></project>"""
ANT = """<project name="app" default="build"><property name="src" value="src"/>
<target name="compile"><javac srcdir="${src}" destdir="build/classes/with/a/long/path"/></target>
<target name="build" depends="compile"><jar destfile="dist/app-with-a-long-name.jar" basedir="build/classes"/></target>
</project>"""

# name, document, detected record path, rows, {row index: {column: value}}
SHAPES = [
    ("rss", RSS, "/rss/channel/item", 2, {1: {"title": "Two", "/rss/channel/title": "News"}}),
    ("atom", ATOM, "/feed/entry", 2, {0: {"title": "First", "/feed/title": "Feed"}}),
    ("oai-pmh ListRecords", OAI_RECORDS, "/OAI-PMH/ListRecords/record", 2,
     {0: {"header/identifier": "oai:1", "metadata/oai_dc:dc/dc:creator[2]": "C2",
          "/OAI-PMH/ListRecords/resumptionToken": "token"}}),
    ("oai-pmh ListSets", OAI_SETS, "/OAI-PMH/ListSets/set", 2, {1: {"setName": "B"}}),
    ("crossref articles", crossref(3, 2), "/doi_batch/body/journal/journal_article", 3,
     {2: {"titles/title": "A2", "citation_list/citation[2]/cYear": "2001"}}),
    ("crossref one article, many citations", crossref(1, 40), "/doi_batch/body/journal/journal_article", 1,
     {0: {"titles/title": "A0", "citation_list/citation[40]/@key": "r39"}}),
    ("pubmed one article", PUBMED, "/PubmedArticleSet/PubmedArticle", 1,
     {0: {"MedlineCitation/PMID": "1", "MedlineCitation/Article/AuthorList/Author[12]/LastName": "Author number 11"}}),
    ("marcxml", MARC, "/collection/record", 2, {1: {"datafield/subfield": "Title two"}}),
    ("dblp", DBLP, "/dblp/*", 4, {0: {"author": "Jürgen Müller", "@key": "journals/a/1"},
                                  1: {"author[2]": "Bo"}, 3: {"year": "2004"}}),
    ("ubl invoice", UBL.format(root="Invoice", line="InvoiceLine", quantity="InvoicedQuantity"),
     "/Invoice/cac:InvoiceLine", 2,
     {1: {"cac:Item/cbc:Name": "Gadget", "/Invoice/cbc:ID": "DOC-1",
          "/Invoice/cac:LegalMonetaryTotal/cbc:PayableAmount": "50.00"}}),
    ("ubl credit note", UBL.format(root="CreditNote", line="CreditNoteLine", quantity="CreditedQuantity"),
     "/CreditNote/cac:CreditNoteLine", 2, {0: {"cbc:CreditedQuantity": "2", "/CreditNote/cbc:ID": "DOC-1"}}),
    ("pain.001", PAIN_001, "/Document/CstmrCdtTrfInitn/PmtInf/CdtTrfTxInf", 3,
     {2: {"PmtId/EndToEndId": "E3", "/Document/CstmrCdtTrfInitn/PmtInf/PmtInfId": "P2",
          "/Document/CstmrCdtTrfInitn/GrpHdr/MsgId": "M1"}}),
    ("pain.008", PAIN_008, "/Document/CstmrDrctDbtInitn/PmtInf/DrctDbtTxInf", 2, {1: {"Dbtr/Nm": "Y"}}),
    ("camt.054", CAMT_054, "/Document/BkToCstmrDbtCdtNtfctn/Ntfctn/Ntry/NtryDtls/TxDtls", 3,
     {2: {"Refs/EndToEndId": "T3", "/Document/BkToCstmrDbtCdtNtfctn/Ntfctn/Ntry/Amt": "5.00"}}),
    ("gpx track", GPX, "/gpx/trk/trkseg/trkpt", 32,
     {0: {"@lat": "52.0000", "ele": "30", "/gpx/trk/name": "Track one"},
      30: {"@lat": "53.0"}, 31: {"/gpx/trk/name": "Track two"}}),
    ("kml placemarks at several depths", KML, "/kml//Placemark", 3,
     {0: {"name": "top", "/kml/Document/name": "Doc"},
      1: {"name": "in outer", "/kml/Document/Folder/name": "Outer"},
      2: {"name": "in inner", "/kml/Document/Folder/name": "Outer", "/kml/Document/Folder/Folder/name": "Inner"}}),
    ("spreadsheetml 2003", SPREADSHEET, "/Workbook/Worksheet/Table/Row", 3,
     {1: {"Cell[2]/Data": "3", "/Workbook/Worksheet/@ss:Name": "One"}, 2: {"/Workbook/Worksheet/@ss:Name": "Two"}}),
    ("opendocument content.xml", ODF,
     "/office:document-content/office:body/office:spreadsheet/table:table/table:table-row", 3,
     {0: {"table:table-cell[2]/text:p": "b"}}),
    ("rowset", ROWSET, "/ROWSET/ROW", 3, {2: {"ID": "3", "NAME": ""}}),
    ("rowset of one row", ROWSET_ONE, "/ROWSET/ROW", 1, {0: {"ID": "1"}}),
    ("table/row", TABLE_ROW, "/table/row", 2, {1: {"c2": "y", "/table/@name": "t"}}),
    ("android layout", LAYOUT, "/LinearLayout", 1, {0: {"LinearLayout/Button[2]/@android:text": "Cancel"}}),
    ("svg drawing", SVG, "/svg", 1, {0: {"g/rect[2]/@x": "20"}}),
    ("property list", PLIST, "/plist", 1, {0: {"dict/string": "App"}}),
    ("maven build", POM, "/project", 1, {0: {"dependencies/dependency[2]/version": "4.5.6"}}),
    ("ant build", ANT, "/project", 1, {0: {"target[2]/@name": "build"}}),
]


@pytest.mark.parametrize("name, document, record_path, rows, expected", SHAPES, ids=[s[0] for s in SHAPES])
def test_one_row_per_real_record(tmp_path, name, document, record_path, rows, expected):
    encoding = "iso-8859-1" if 'encoding="ISO-8859-1"' in document else "utf-8"
    path = write(tmp_path, "doc.xml", document, encoding)
    result, tables = convert([path], tmp_path)
    assert result.all_ok, result.files
    [table] = result.tables
    assert table.record_path == record_path
    assert len(tables[table.name]) == rows
    for index, values in expected.items():
        row = tables[table.name][index]
        for column, value in values.items():
            assert row.get(column) == value, (column, {k: v for k, v in row.items() if v})


def test_kml_records_carry_their_own_folders_only(tmp_path):
    """A folder without placemarks after the ones with them is another branch: its name is on no row."""
    result, tables = convert([write(tmp_path, "doc.xml", KML)], tmp_path)
    [rows] = tables.values()
    assert all("Empty folder" not in (row.get("/kml/Document/Folder/name") or "") for row in rows)
    assert all("no placemarks here" not in str(row.values()) for row in rows)


def test_relational_dblp_and_kml_records_get_child_tables(tmp_path):
    result, tables = convert([write(tmp_path, "doc.xml", DBLP, "iso-8859-1")], tmp_path, mode="relational")
    assert result.all_ok
    assert [t.name for t in result.tables] == ["DOC", "DOC.author"]
    assert [(row["_record"], row["_item"], row["text()"]) for row in tables["DOC.author"]] == [
        ("1", "1", "Jürgen Müller"), ("2", "1", "Ana"), ("2", "2", "Bo"), ("3", "1", "Cy"), ("4", "1", "Di")]
    assert [row["year"] for row in tables["DOC"]] == ["2001", "2002", "2003", "2004"]
    result, tables = convert([write(tmp_path, "kml.xml", KML)], tmp_path / "kml", mode="relational")
    assert [t.record_path for t in result.tables] == ["/kml//Placemark"]


def test_typed_record_paths_with_star_and_any_depth(tmp_path):
    path = write(tmp_path, "doc.xml", KML)
    result, tables = convert([path], tmp_path, record_path="/kml//Placemark")
    assert [row["name"] for row in tables["DOC"]] == ["top", "in outer", "in inner"]
    result, tables = convert([path], tmp_path / "2", record_path="/kml/Document/*")
    rows = tables["DOC"]
    assert [row["text()"] for row in rows[:1]] + [row["name"] for row in rows[1:]] == [
        "Doc", "top", "Outer", "Empty folder"]
