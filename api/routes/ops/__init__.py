"""Operators: find any grading's workflow, read its history as a timeline, see failed and stuck work, retry or"""

from api.routes.ops.routes import router

__all__ = ["router"]
