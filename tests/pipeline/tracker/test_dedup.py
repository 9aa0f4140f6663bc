from midjourney.messages import (
    Attachment,
    ChannelEvent,
    ChannelMessage,
    EventSource,
    MessageCreated,
    MessageDeleted,
    MessageUpdated,
)
from pipeline.tracker.dedup import EventDeduplicator

CHANNEL = "200"
MIDJOURNEY = "936929561302675456"


def progress_message(percent: int, url: str = "https://cdn.example/p.webp?sig=1") -> ChannelMessage:
    attachment = Attachment(id="31", filename="preview.webp", url=url)
    return ChannelMessage(
        id="7001",
        channel_id=CHANNEL,
        author_id=MIDJOURNEY,
        content=f"**a koi pond** - <@5> (fast) ({percent}%)",
        attachments=(attachment,),
    )


def test_the_second_stream_copy_of_an_event_is_dropped():
    dedup = EventDeduplicator()
    assert dedup.is_new(MessageCreated(progress_message(0), EventSource.BOT))
    assert not dedup.is_new(MessageCreated(progress_message(0), EventSource.USER))


def test_copy_with_a_freshly_signed_link_is_still_a_repeat():
    dedup = EventDeduplicator()
    assert dedup.is_new(MessageUpdated(progress_message(46), EventSource.USER))
    resigned = progress_message(46, url="https://cdn.example/p.webp?sig=2")
    assert not dedup.is_new(MessageUpdated(resigned, EventSource.BOT))


def test_each_edit_and_kind_of_event_counts_once():
    dedup = EventDeduplicator()
    events: list[ChannelEvent] = [
        MessageCreated(progress_message(0), EventSource.USER),
        MessageUpdated(progress_message(0), EventSource.USER),
        MessageUpdated(progress_message(15), EventSource.USER),
        MessageDeleted("7001", CHANNEL, EventSource.USER),
    ]
    assert [dedup.is_new(event) for event in events] == [True] * len(events)
    assert [dedup.is_new(event) for event in events] == [False] * len(events)


def test_oldest_events_are_forgotten_beyond_the_memory():
    dedup = EventDeduplicator(memory=2)
    first, second, third = (
        MessageUpdated(progress_message(percent), EventSource.BOT) for percent in (15, 31, 46)
    )
    for event in (first, second, third):
        assert dedup.is_new(event)
    assert not dedup.is_new(third)
    assert dedup.is_new(first)
