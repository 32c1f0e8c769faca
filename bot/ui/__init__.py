"""Shared screens, keyboards and callback data, so features never import each other's handlers."""
