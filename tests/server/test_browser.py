"""The chat example's web page in a real browser: headless Chromium (the system package, `make
browser`) driven by Playwright for Python. The page uses the official convex browser client served by
Ripple at /vendor/convex/browser.bundle.js."""
from __future__ import annotations

import shutil
import signal
from typing import Any, Iterator

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.server.harness import CHAT, unique

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
TIMEOUT_MS = 15000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not shutil.which(CHROMIUM):
        pytest.fail("the browser tests need Debian's chromium: run `make browser` (apt-get install chromium)")
    with sync_playwright() as pw:
        # --no-sandbox: Chromium's sandbox cannot start as root, which is how containers often run tests.
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def open_chat(browser: Any, chat_server: Any) -> Iterator[Any]:
    """open_chat(name, server=chat_server) -> a page of the chat app in its own browser context (own
    localStorage), connected, with *name* filled in. ``page.errors`` collects uncaught page errors."""
    contexts = []

    def open_(name: str, server: Any = chat_server) -> Any:
        context = browser.new_context()
        contexts.append(context)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.errors = errors
        page.goto(server.url + "/")
        expect(page.locator("#status")).to_have_attribute("data-state", "connected", timeout=TIMEOUT_MS)
        page.fill("#author", name)
        page.locator("#author").dispatch_event("change")
        return page

    try:
        yield open_
    finally:
        for context in contexts:
            context.close()


def send(page: Any, text: str) -> None:
    page.fill("#body", text)
    page.press("#body", "Enter")


def message(page: Any, author: str, body: str) -> Any:
    return page.locator(".message", has=page.locator(".author", has_text=author)).filter(
        has=page.locator(".body", has_text=body))


def test_two_pages_see_each_others_messages_live(open_chat):
    token = unique("web")
    alice, bob = open_chat(f"alice-{token}"), open_chat(f"bob-{token}")
    send(alice, f"hi bob {token}")
    expect(message(bob, f"alice-{token}", f"hi bob {token}")).to_have_count(1, timeout=TIMEOUT_MS)
    send(bob, f"hi alice {token}")
    expect(message(alice, f"bob-{token}", f"hi alice {token}")).to_have_count(1, timeout=TIMEOUT_MS)
    expect(message(alice, f"alice-{token}", f"hi bob {token}")).to_have_class("message mine")
    expect(alice.locator("#body")).to_have_value("")  # sent, so cleared
    # The newest message is scrolled into view, and the name survives a reload (localStorage).
    expect(message(alice, f"bob-{token}", f"hi alice {token}")).to_be_in_viewport()
    alice.reload()
    expect(alice.locator("#author")).to_have_value(f"alice-{token}")
    expect(message(alice, f"bob-{token}", f"hi alice {token}")).to_have_count(1, timeout=TIMEOUT_MS)
    assert alice.errors == [] and bob.errors == []


def test_wiki_reply_appears_in_both_pages(open_chat, wiki):
    token = unique("webwiki")
    alice, bob = open_chat(f"alice-{token}"), open_chat(f"bob-{token}")
    send(alice, f"/wiki Page {token}")
    reply = wiki.extract(f"Page {token}")
    for page in (alice, bob):
        expect(message(page, "Wikipedia", reply)).to_have_count(1, timeout=TIMEOUT_MS)
        expect(message(page, "Wikipedia", reply)).to_have_class("message bot")


def test_convex_error_is_shown_with_its_data_and_the_text_kept(open_chat):
    page = open_chat(unique("long"))
    send(page, "z" * 2001)
    status = page.locator("#status")
    expect(status).to_have_attribute("data-state", "error", timeout=TIMEOUT_MS)
    expect(status).to_have_text("Message too long: 2001 characters (at most 2000).")
    expect(page.locator("#body")).to_have_value("z" * 2001)
    send(page, "short enough")  # the next successful send clears the error
    expect(status).to_have_attribute("data-state", "connected", timeout=TIMEOUT_MS)


@pytest.mark.slow
def test_page_reports_a_lost_connection_and_delivers_what_was_sent_meanwhile(open_chat, make_server):
    server = make_server(CHAT, name="web-restart")
    page = open_chat("carol", server)
    status = page.locator("#status")
    server.stop(signal.SIGKILL)
    expect(status).to_have_attribute("data-state", "reconnecting", timeout=TIMEOUT_MS)
    send(page, "sent while the server was down")
    server.start()
    expect(status).to_have_attribute("data-state", "connected", timeout=TIMEOUT_MS)
    expect(message(page, "carol", "sent while the server was down")).to_have_count(1, timeout=TIMEOUT_MS)
    assert [m["body"] for m in server.value("query", "messages:get_messages")] == ["sent while the server was down"]
    assert page.errors == []
