"""The clinic and call-control tools, registered once. Everything else derives from this."""

from __future__ import annotations

from tools.appointments import (
    CheckAvailableSlotsArgs,
    ScheduleAppointmentArgs,
    ScheduleFollowUpArgs,
    check_available_slots,
    schedule_appointment,
    schedule_follow_up,
)
from tools.call_control import EndCallArgs, end_call
from tools.info import NoArgs, get_clinic_info, get_payment_info
from tools.needs import AssessClientNeedsArgs, assess_client_needs
from tools.opt_out import OptOutArgs, opt_out
from tools.patient_appointments import (
    AppointmentIdArgs,
    CancelAppointmentArgs,
    MyAppointmentsArgs,
    RescheduleAppointmentArgs,
    cancel_appointment,
    confirm_appointment,
    my_appointments,
    reschedule_appointment,
)
from tools.registry import CallEnding, LimitClass, ToolRegistry, ToolSpec
from tools.search import SearchWebArgs, search_web
from tools.stats import ClinicStatsArgs, get_clinic_stats
from tools.transfer import TransferToHumanArgs, transfer_to_human
from tools.voicemail import VoicemailDetectedArgs, voicemail_detected

# Every tool is BLOCKING: each read's answer is what the model says next (a NON_BLOCKING read
# makes the model fill the gap with "let me check" and then speak over itself when the answer
# lands: Pipecat's ``_tag_tool_behaviors`` docstring), and each write must be confirmed or acted on.
# ``writes``: its outcome is never lost when the patient talks over it (pipeline/tool_calls.py).
# ``limit``, ``ends_call``, ``timeout_secs`` and ``written_status``: how a call treats the tool (the
# limiter, the tool bridge and the call session read them; none of them names a tool).
CLINIC_TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        name="assess_client_needs",
        description=(
            "Match the patient's interests and dental concerns to the clinic's services and suggest"
            " free slots that fit when they can come. Call it once you know what the patient"
            " needs. Returns recommended_services (best first), urgent, and suggested_slots."
        ),
        args_model=AssessClientNeedsArgs,
        handler=assess_client_needs,
        blocking=True,  # the model speaks the suggested services and slots
    ),
    ToolSpec(
        name="check_available_slots",
        description=(
            "List free appointment times on a day (and the nearest free times if that day is"
            " closed or full). Always call it before proposing a time. Times are the clinic's"
            " local time."
        ),
        args_model=CheckAvailableSlotsArgs,
        handler=check_available_slots,
        blocking=True,  # the model must offer only the free times it returns
    ),
    ToolSpec(
        name="schedule_appointment",
        description=(
            "Book an appointment once the patient has agreed to a specific free time and service"
            " and you have their full name. In a call to a known number the booking is always for"
            " the person called, on this call's number: leave phone_number empty; another"
            " person's number is refused (they should call the clinic themselves). On an error,"
            " read 'hint' and offer the alternatives it returns; never claim a booking without"
            " status 'booked'. The result says nothing about any patient record."
        ),
        args_model=ScheduleAppointmentArgs,
        handler=schedule_appointment,
        blocking=True,  # a booking; the model confirms it or offers other times
        writes=True,
        limit=LimitClass.BOOKING,
        written_status="booked",
    ),
    ToolSpec(
        name="schedule_follow_up",
        description=(
            "Arrange for clinic staff to call the patient back at a time they choose, e.g. when"
            " they cannot decide now, ask to be called later, or want staff to help with a"
            " booking for someone else. In a call to a known number the callback is always to"
            " this call's number: leave phone_number empty; any other number is refused."
        ),
        args_model=ScheduleFollowUpArgs,
        handler=schedule_follow_up,
        blocking=True,  # a callback; the model confirms the time
        writes=True,
        limit=LimitClass.CALLBACK,
        written_status="scheduled",
    ),
    # The callee's own appointments (tools/patient_appointments.py): offered in every call, as
    # Gemini Live takes one fixed tool set per session; outside a call bound to a number they
    # answer with a refusal, and the prompt says when to use them.
    ToolSpec(
        name="my_appointments",
        description=(
            "The upcoming appointments of the person called (this call's own number only):"
            " appointment_id, service, day, weekday, time (clinic time) and"
            " appointment_status. Call it before confirming, rescheduling or cancelling."
        ),
        args_model=MyAppointmentsArgs,
        handler=my_appointments,
        blocking=True,  # the model reads the appointment back to the patient
    ),
    ToolSpec(
        name="confirm_appointment",
        description=(
            "Record that the patient will come to their appointment (an appointment_id from"
            " my_appointments). Say it is confirmed only after status 'confirmed'."
        ),
        args_model=AppointmentIdArgs,
        handler=confirm_appointment,
        blocking=True,  # a write the model confirms
        writes=True,
    ),
    ToolSpec(
        name="reschedule_appointment",
        description=(
            "Move the patient's appointment (an appointment_id from my_appointments) to a new"
            " free time they agreed to; check it with check_available_slots first. The old time"
            " is released in the same step. On an error nothing changed: read 'hint' and offer"
            " nearest_free_slots. Say it is moved only after status 'rescheduled'."
        ),
        args_model=RescheduleAppointmentArgs,
        handler=reschedule_appointment,
        blocking=True,  # a write; the model confirms it or offers other times
        writes=True,
    ),
    ToolSpec(
        name="cancel_appointment",
        description=(
            "Cancel the patient's appointment (an appointment_id from my_appointments) when they"
            " say they will not come and do not want another time now, with a short reason in"
            " their words (no health details). Offer a new time first."
        ),
        args_model=CancelAppointmentArgs,
        handler=cancel_appointment,
        blocking=True,  # a write the model confirms
        writes=True,
    ),
    ToolSpec(
        name="get_clinic_info",
        description=(
            "The clinic's address, phone, opening hours, closures, services with prices and"
            " answers to common questions."
        ),
        args_model=NoArgs,
        handler=get_clinic_info,
        blocking=True,  # the model answers the patient from it
    ),
    ToolSpec(
        name="get_payment_info",
        description="Payment methods, instalment plans and the price list.",
        args_model=NoArgs,
        handler=get_payment_info,
        blocking=True,  # the model answers the patient from it
    ),
    ToolSpec(
        name="search_web",
        description=(
            "Look up a general dental question the clinic information does not answer. Never put"
            " the patient's name, number or other personal details in the query."
        ),
        args_model=SearchWebArgs,
        handler=search_web,
        blocking=True,  # the model answers the patient from it
        limit=LimitClass.SEARCH,
    ),
    ToolSpec(
        name="get_clinic_stats",
        description=(
            "Aggregate clinic numbers: calls, bookings, revenue and conversion rate. For clinic"
            " staff only."
        ),
        args_model=ClinicStatsArgs,
        handler=get_clinic_stats,
        blocking=True,  # the model answers staff from it
        confidential=True,
    ),
    ToolSpec(
        name="end_call",
        description=(
            "Hang up politely: call it after saying goodbye, when the conversation is finished,"
            " the patient declines or asks not to be called again, it is the wrong person, or a"
            " voicemail answered."
        ),
        args_model=EndCallArgs,
        handler=end_call,
        blocking=True,  # ends the call; nothing may be said after it
        writes=True,
        limit=LimitClass.UNCAPPED,  # ends the call: nothing left to flood
        ends_call=CallEnding.END,
    ),
    ToolSpec(
        name="opt_out",
        description=(
            "Put this patient's number on the clinic's do-not-call list. Call it at once when the"
            " patient asks not to be called again (e.g. 'mos më telefononi më'), then confirm and"
            " call end_call with reason 'opted_out'. The number is the one this call is bound"
            " to; it takes no phone number."
        ),
        args_model=OptOutArgs,
        handler=opt_out,
        blocking=True,  # the do-not-call list; the model confirms, then ends the call
        writes=True,
        # One idempotent row for the call's own number; a patient asking is never held back.
        limit=LimitClass.UNCAPPED,
    ),
    ToolSpec(
        name="transfer_to_human",
        description=(
            "Connect the patient to a member of clinic staff: when they ask for a person, or ask"
            " something you cannot answer with your tools. First say one short line that you are"
            " connecting them, then call it. The clinic's number is fixed; it takes no number."
            " On status 'transferred' say nothing more; on 'transfer_failed' follow 'hint'."
        ),
        args_model=TransferToHumanArgs,
        handler=transfer_to_human,
        blocking=True,  # moves the call; the model must be silent, or follow the failure hint
        writes=True,
        ends_call=CallEnding.TRANSFER,
        # It rings staff before it answers, and a failed one must still leave its callback.
        timeout_secs=60.0,
    ),
    ToolSpec(
        name="voicemail_detected",
        description=(
            "Call it as soon as an answering machine or voicemail greeting answers instead of a"
            " person (e.g. 'leave a message after the beep'). Then follow the result exactly:"
            " say only the 'message' it returns, never the patient's name or the reason for the"
            " call."
        ),
        args_model=VoicemailDetectedArgs,
        handler=voicemail_detected,
        blocking=True,  # records the outcome; the model says only the message it returns
        writes=True,
        ends_call=CallEnding.VOICEMAIL,
    ),
)


def default_registry() -> ToolRegistry:
    """The registry of the clinic tools."""
    return ToolRegistry(CLINIC_TOOLS)
