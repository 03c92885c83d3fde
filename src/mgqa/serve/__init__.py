"""The server, in one direction: ``server`` starts ``workers`` (or one process), each process runs
``process.serve_app``, which is ``app.create_app``: the JSON API (``api``), the ASGI policies
(``middleware``) and the chat (``chat``), all logging through ``logs``. No module here imports one
above it, and the library (``mgqa.answer``, ``mgqa.live``, ...) imports none of them."""
