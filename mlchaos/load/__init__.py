"""Traffic during experiments: Locust's FastHttpUser, always run as a subprocess.

Locust monkey-patches the process with gevent on import and must come before requests and
ssl, so mlchaos never imports it; it starts `locust -f mlchaos/load/locustfile.py` instead.
"""

__all__ = []
