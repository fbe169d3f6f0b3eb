"""The built-in plugin: gates, checkers and exporters, registered like any other."""
