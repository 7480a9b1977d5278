"""The admission contract every webhook of this project is served through, at the bottom layer.

``request``: the AdmissionReview v1 envelope as the API server sends it (typed, camelCase aliases;
``object`` and ``oldObject`` stay the dicts received). ``response``: one ``Response`` type built by
the outcome constructors ``allowed``, ``denied``, ``patched`` and ``errored`` (controller-runtime's
``admission`` package), encoded into the AdmissionReview answer. ``handler``: the ``Handler``
protocol the server serves and the CLI calls; the mutator and the reservation guard are two
handlers (``webhook.engine.handlers``). Nothing here knows about policies or does I/O.
"""
