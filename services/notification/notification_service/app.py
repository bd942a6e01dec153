"""Application factory of the notification service: the notifications API, the order-events consumer
and the delivery worker."""

from pathlib import Path

from litestar import Litestar

from commerce_platform.service_app import ServiceDefinition, create_service_app
from notification_service.controllers import NotificationController
from notification_service.delivery import delivery_worker
from notification_service.events import order_events_consumer
from notification_service.settings import NotificationSettings


def create_app() -> Litestar:
    return create_service_app(
        ServiceDefinition(
            name="notification",
            description="Order emails (SES or SMTP) and SMS, from order events, with delivery status and retries.",
            route_handlers=[NotificationController],
            migrations_dir=Path(__file__).parent / "migrations",
            settings_class=NotificationSettings,
            workers=[order_events_consumer, delivery_worker],
        )
    )
