"""PHP-FPM behind httpd: its pool files read as php-fpm reads them, where httpd sends PHP, and the
second queueing station those pools form. Imported only when a config or profile involves PHP-FPM.
"""
