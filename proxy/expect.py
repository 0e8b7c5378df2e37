"""``Expect: 100-continue``: the interim ``100 Continue`` only once the caller may send its body.

aiohttp answers ``100 Continue`` as soon as the router has found a route, before any middleware
has run: a caller nobody had checked yet was invited to send its body.  Here every route gets
``expect_later`` instead, which sends nothing (an expectation other than ``100-continue`` is
still a 417), and ``send_continue`` sends the interim answer where a body is about to be read
(``proxy.bodies``, form posts, the forwarder): after the caller was authenticated and allowed.

A final answer given while the client still waits for ``100 Continue`` closes the connection
(``close_unless_continued``): the client may or may not send the body it announced, so the next
bytes on that connection could be either.
"""

from __future__ import annotations

from aiohttp import hdrs, web
from aiohttp.http import HttpVersion11

from rowgate.errors import ExpectationFailed
from rowgate.proxy.problem import problem_response

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"

#: Set on a request once ``100 Continue`` was sent (or the client was never waiting for it).
_CONTINUED = web.RequestKey("continued", bool)


def _waits(request: web.BaseRequest) -> bool:
    """True while the client waits for ``100 Continue`` before sending its body."""
    return (
        request.version == HttpVersion11
        and request.headers.get(hdrs.EXPECT, "").lower() == "100-continue"
        and not request.get(_CONTINUED, False)
    )


async def expect_later(request: web.Request) -> web.StreamResponse | None:
    """The routes' expect handler: checks the expectation (417 for an unknown one), sends nothing."""
    expect = request.headers.get(hdrs.EXPECT, "")
    if request.version != HttpVersion11 or expect.lower() == "100-continue":
        return None
    error = ExpectationFailed(f"Unknown expectation {expect!r}: only 100-continue is supported.")
    response = problem_response(error, request.path)
    response.force_close()  # a body may follow that nobody reads
    return response


def defer_continue(router: web.UrlDispatcher) -> None:
    """Give every route of ``router`` ``expect_later``; call it once all routes are added."""
    for route in router.routes():
        # aiohttp takes the expect handler only as an argument of each add_route call.
        route._expect_handler = expect_later


async def send_continue(request: web.Request) -> None:
    """Send ``100 Continue`` if the client waits for it (once); call it right before reading a body."""
    if _waits(request):
        request[_CONTINUED] = True
        await request.writer.write(_CONTINUE)
        request.writer.output_size = 0  # the interim answer is not the response


def close_unless_continued(request: web.Request, response: web.StreamResponse) -> None:
    """Close the connection after ``response`` when the client still waits for ``100 Continue``."""
    if _waits(request) and request.can_read_body and not response.prepared:
        response.force_close()
