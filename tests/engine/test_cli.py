"""Bad input on the command line: one line, exit status 2; the traceback only with EFFICIENTTRAIN_DEBUG=1."""
import pytest
import torch

from engine.cli import main_guard, one_line
from engine.data import CorruptImageError


def test_an_error_from_a_loader_worker_is_reduced_to_the_original_message():
    def fails(_):
        raise CorruptImageError("/data/a.JPEG", "cannot identify image file")

    loader = torch.utils.data.DataLoader(range(2), num_workers=1, collate_fn=fails)
    with pytest.raises(CorruptImageError) as caught:  # torch rebuilds the worker's error with its traceback text
        next(iter(loader))
    assert "Original Traceback" in str(caught.value)
    assert one_line(caught.value) == "unreadable image /data/a.JPEG: cannot identify image file"


def test_guarded_main_prints_one_line_and_exits_2(capsys, monkeypatch):
    @main_guard()
    def main():
        raise FileNotFoundError("image folder not found: /x\n(expected /x/<class>/<image files>)")

    monkeypatch.delenv("EFFICIENTTRAIN_DEBUG", raising=False)
    with pytest.raises(SystemExit) as code:
        main()
    assert code.value.code == 2
    assert capsys.readouterr().err == ("error: image folder not found: /x; (expected /x/<class>/<image files>) "
                                       "(EFFICIENTTRAIN_DEBUG=1 shows the traceback)\n")
    monkeypatch.setenv("EFFICIENTTRAIN_DEBUG", "1")
    with pytest.raises(FileNotFoundError):
        main()


def test_a_bug_is_not_mistaken_for_bad_input():
    @main_guard()
    def main():
        raise TypeError("a programming error keeps its traceback")

    with pytest.raises(TypeError):
        main()
