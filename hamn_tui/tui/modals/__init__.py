"""Modal dialogs. Every yes/no defaults to No (Enter on arrival does nothing harmful), Esc
always means "not now", and typed confirmations need the exact text."""
from .choice import ChoiceModal
from .confirm import ConfirmModal, TypedConfirmModal
from .reason import ReasonModal
from .text import TextModal
from .waiting import ABORT, SKIP, ApprovalWaitModal, UnwitnessedModal, approval_body

__all__ = ["ABORT", "SKIP", "ApprovalWaitModal", "ChoiceModal", "ConfirmModal", "ReasonModal", "TextModal", "TypedConfirmModal",
           "UnwitnessedModal", "approval_body"]
