"""capplan: capacity planning for Apache httpd.

Reads an httpd configuration the way httpd does, combines it with a traffic profile and computes,
for prefork, worker and event, memory, concurrency, keep-alive capacity and queueing delays.
"""

__version__ = "0.1.0"


def package_version() -> str:
    """The installed distribution's version (its metadata), else the source tree's."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("capplan")
    except PackageNotFoundError:
        return __version__
