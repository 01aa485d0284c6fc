"""The built-in ``code`` worker (:mod:`.plugin`) and the sandbox it runs Python in."""
