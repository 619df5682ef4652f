"""The write path: every notification, however it starts, takes this one path.

``emit()`` writes an outbox Event (:mod:`.events`); processing it, like ``send``,
``send_to_self``, ``send_system`` and ``notify()`` (:mod:`.entry_points`), hands one
:class:`~.request.WriteRequest` to :func:`~.write.write`, which runs the stages in one
transaction: :mod:`.audience` → :mod:`.decisions` → :mod:`.rows` → :mod:`.deliveries` →
:mod:`.handoff`. See docs/architecture.md.
"""
