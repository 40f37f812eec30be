"""Tests of the recommendation, report, snippet and their renderers and commands."""
