import pytest

from ovlt_eval.testing.openai_server import serve


@pytest.fixture(scope="module")
def loopback():
    server, url = serve()
    yield url
    server.shutdown()
