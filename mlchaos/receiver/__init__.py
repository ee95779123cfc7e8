"""The PagerDuty receiver teams run on a staging that should page somewhere real without
paging a person (`mlchaos receiver`): PagerDuty's Events API v2 (`events`) and REST API v2
(`rest`) over the incidents it keeps, on HTTPS with a self-signed certificate (`tls`). Product
code, in the core install, like the chaos gateway; the reference stack runs it too."""

__all__: list[str] = []
