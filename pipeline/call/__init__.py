"""One call, end to end, in parts.

- :mod:`pipeline.call.spec`: what a call is built from (the application's parts, the call, its
  timeouts).
- :mod:`pipeline.call.transport`: what a call needs from its transport; each transport kind
  implements it and knows its own wiring.
- :mod:`pipeline.call.assembly`: the pipeline around the transport (model, tools, local VAD,
  observers, worker).
- :mod:`pipeline.call.lifecycle`: the running call's state and the ways it ends.
- :mod:`pipeline.call.control`: what the model's tools do to the call (end it, transfer it,
  note a voicemail).
- :mod:`pipeline.call.greeting`: Elo speaks first once the callee is there; the watches that
  greeting arms.
- :mod:`pipeline.call.outcome`: the outcome rules of a call and of the campaign attempt it serves.
- :mod:`pipeline.call.session`: :class:`~pipeline.call.session.CallSession`, which runs a call
  and records it.
"""
