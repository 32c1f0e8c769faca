"""Alerts and news for members who ask for them (issue 16): subscriptions, broadcasts.

How to publish an approved alert (the moderation card's Approve, issue 16 item 2)::

    from bot.alerts.service import publish_alert

    alert_id = await publish_alert(
        session,                      # the update's transaction (the `session` handler arg)
        network_id="aswa",            # the network whose staff approved it ("global" too)
        country="KE",                 # ISO 3166-1 alpha-2 of the report
        areas=["Nairobi"],            # as staff left them; [] reaches the whole country
        text=approved_text,           # exactly as staff approved it (plain text, not HTML)
        language="en",                # the language staff wrote it in
        approved_by=query.from_user.id,  # stored only as a keyed hash
        source_report_id=report.id,   # or None; Approve twice returns the same alert id
    )

It writes the alert and its broadcast job in the caller's transaction and sends nothing: once
that transaction commits, the broadcast worker (`bot/alerts/engine.py`) lists the opted-in
members, posts a progress message with a Stop button in the network's group and sends, within
Telegram's limits, resuming after a crash. Raises ValueError for an empty text or a country
that is not two letters.

Modules: `service` (publish, subscriptions' logic), `engine` (the broadcast worker), `texts`
(what members and staff read), `handlers` (/alerts for members, /announce for group admins).
"""
