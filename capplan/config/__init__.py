"""Reading httpd configuration files the way httpd 2.4 reads them.

Stages: `lexer` (bytes → logical lines) → `parser` (lines → section tree) → `evaluator`
(Include, Define, If* sections → the directive stream httpd would walk).
"""
