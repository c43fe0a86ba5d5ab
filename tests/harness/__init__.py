"""What the tests and benchmarks drive a served notebook with; no notebook imports it.

``appserver``: start ``marimo run`` and drive it in headless Chromium. ``appclient``: a student
without a browser, speaking marimo's protocol. Both need the ``test`` extra (psutil, playwright,
websockets).
"""
