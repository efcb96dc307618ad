"""Parsers for Grid Engine's value and expression syntaxes.

``values`` (hand-written, for hot loops) and ``expr`` (a lark grammar compiled into cached
predicates) serve the master and scheduler; ``requests`` parses ``-l``/``-q``/``-a`` text.
Nothing is imported here so that importing one submodule stays cheap.
"""
