import pytest

from ovlt_data.loopback import serve


@pytest.fixture(scope="module")
def loopback():
    server, url = serve()
    yield url
    server.shutdown()
