"""SQLModel tables and API schemas: data shapes only, no I/O."""

from models.apikey import ApiKey
from models.compliance import ComplianceEntry, ComplianceKind
from models.dashboard_link import DashboardLink
from models.enrollment import Enrollment, EnrollmentStatus, SequenceVersion, SlaStatus
from models.event import Event, EventIn
from models.inbound import InboundMessage, InboundOutcome, MailboxCursor
from models.lead import LEAD_COLUMNS, Lead, LeadIn, LeadPublic
from models.mailbox import DomainDay, MailboxDay
from models.notification import SlaAlert, WebhookDelivery
from models.sending_pause import PauseScope, SendingPause
from models.touch import Touch, TouchKind, TouchStatus

__all__ = [
    "LEAD_COLUMNS",
    "ApiKey",
    "ComplianceEntry",
    "ComplianceKind",
    "DashboardLink",
    "DomainDay",
    "Enrollment",
    "EnrollmentStatus",
    "Event",
    "EventIn",
    "InboundMessage",
    "InboundOutcome",
    "Lead",
    "LeadIn",
    "LeadPublic",
    "MailboxCursor",
    "MailboxDay",
    "PauseScope",
    "SendingPause",
    "SequenceVersion",
    "SlaAlert",
    "SlaStatus",
    "Touch",
    "TouchKind",
    "TouchStatus",
    "WebhookDelivery",
]
