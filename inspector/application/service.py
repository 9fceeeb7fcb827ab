"""``twisted.application.service``'s names: services, collections and the Application."""

from inspector.interfaces import IService, IServiceCollection
from inspector.service import Application, MultiService, Service

__all__ = ["IService", "IServiceCollection", "Service", "MultiService", "Application"]
