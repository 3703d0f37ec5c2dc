"""The conformance scenario runner."""
