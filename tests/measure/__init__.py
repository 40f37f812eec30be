"""Tests of capplan.measure: /proc readings, discovery, the memory derivation, mod_status."""
