"""`/wiki <topic>`: fetch a summary from the configured URL (env WIKI_URL, the topic appended) and
schedule the reply. Network access happens only here, in an action, through ctx.fetch."""
from ripple import internal_action, v

DEFAULT_URL = "https://en.wikipedia.org/api/rest_v1/page/summary/"


@internal_action(args={"topic": v.string()})
def answer(ctx, args):
    topic = args["topic"]
    url = ctx.env.get("WIKI_URL", DEFAULT_URL) + topic.replace(" ", "_")
    try:
        resp = ctx.fetch(url, headers={"Accept": "application/json"})
        if resp.ok:
            data = resp.json()
            text = data.get("extract") or f"No summary for {topic!r}."
        else:
            text = f"Wikipedia answered {resp.status} for {topic!r}."
    except Exception as exc:  # the fetch may be disallowed or the network unreachable
        text = f"Could not look up {topic!r}: {exc}"
    if len(text) > 280:
        text = text[:277] + "..."
    ctx.scheduler.run_after(0, "messages:post_reply", {"body": text})
    return text
