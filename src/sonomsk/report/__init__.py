"""Reports and interoperability: HTML/PDF reports, DICOM SR/SEG, FHIR, CSV/XLSX.

The API lives in :mod:`sonomsk.report.api` (``render_html``, ``render_pdf``, ``write_sr``,
``write_seg``, ``write_fhir``, ``write_csv``, ``write_xlsx``); the study RESULTS model in
:mod:`sonomsk.report.results`; the section registry in :mod:`sonomsk.report.sections`.
Nothing heavy is imported here.
"""
