"""capplan: capacity planning for Apache httpd.

Reads an httpd configuration the way httpd does, combines it with a traffic profile and computes,
for prefork, worker and event, memory, concurrency, keep-alive capacity and queueing delays.
"""

__version__ = "0.1.0"
