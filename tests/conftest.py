import pytest
import torch


@pytest.fixture
def one_thread():
    """One torch thread and a fixed seed for the test (small layers run faster on one thread)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(old)
