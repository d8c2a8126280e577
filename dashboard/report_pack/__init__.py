"""報告書用資料 (report pack): the year's figures and charts as a Word file, a PDF and a workbook.

warehouse/report.py reads the figures through the pages' queries; model.py turns them into sections of
text, charts and tables; build.py renders the charts and runs the writers (word.py, pdf.py, workbook.py);
job.py runs that off the script thread for the 概要 page's section; __main__.py is the command line.
"""
