"""What a report shows: PNG figures (`figures`), the self-contained HTML page (`html`) and the
report's files as bytes (`files`). No file I/O here; `latentedit.pipeline.report` builds the report
and `latentedit.store.write_folder` writes it.
"""
