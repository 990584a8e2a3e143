"""LTI 1.3: the endpoints an LMS talks to (login, launch, key set, deep linking) and the operators' registrations."""

from api.routes.lti.routes import protocol, router

__all__ = ["router", "protocol"]
