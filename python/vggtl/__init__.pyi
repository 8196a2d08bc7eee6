# Type stubs of the vggtl package (python/vggtl/__init__.py). The keywords of train, extract and
# load_model are the tools' options ('-' as '_'); the most used are spelt out, the rest pass
# through **options (help(vggtl.train) lists every one with its default).
import os
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

__version__: str
_Path = Union[str, "os.PathLike[str]"]
_Callback = Union[Callable[[int, Dict[str, float]], Any], Any]

def devices() -> List[str]: ...
def version_report() -> str: ...

class History:
    history: Dict[str, List[float]]
    epoch: List[int]
    params: Dict[str, Any]
    seconds: List[float]
    stage: List[int]
    out: Optional[str]
    metrics: Optional[Dict[str, Any]]

class Features:
    features: npt.NDArray[np.float32]
    labels: npt.NDArray[np.int32]
    paths: List[str]
    class_names: List[str]
    bad_files: List[Tuple[str, str]]
    attributes: Dict[str, str]
    out: Optional[str]

class Model:
    path: str
    class_names: List[str]
    @property
    def image_size(self) -> int: ...
    @property
    def preprocessing(self) -> str: ...
    @property
    def interpolation(self) -> str: ...
    @property
    def device(self) -> str: ...
    @property
    def source(self) -> str: ...
    def predict(self, x: Union[_Path, Sequence[_Path], npt.NDArray[np.uint8]], verbose: int = ...) -> npt.NDArray[np.float32]: ...
    def predict_files(self, paths: Union[_Path, Sequence[_Path]], verbose: int = ...
                      ) -> Tuple[npt.NDArray[np.float32], List[str], List[Tuple[str, str]]]: ...
    def evaluate(self, data: _Path, verbose: int = ...) -> Dict[str, Any]: ...

def train(data: Optional[_Path] = ..., *, out: Optional[_Path] = ..., epochs: int = 20, batch_size: int = 30,
          lr: float = 1e-4, optimizer: str = "adam", momentum: float = 0.0, hidden: int = 64, dropout: float = 0.5,
          monitor: str = "val_loss", image_size: int = 224, weights: Optional[_Path] = ..., init: Optional[_Path] = ...,
          resume: bool = False, trainable_from: Optional[str] = "none", augment: Optional[str] = ...,
          shuffle: Union[bool, str] = "on", seed: int = 0, device: str = "auto", precision: str = "tf32",
          callbacks: Optional[Sequence[_Callback]] = None, verbose: int = 1, **options: Any) -> History: ...
def extract(data: _Path, *, out: Optional[_Path] = None, weights: Optional[_Path] = ..., image_size: int = 224,
            batch_size: int = 30, device: str = "auto", precision: str = "tf32", verbose: int = 1,
            **options: Any) -> Features: ...
def load_model(model: _Path, *, weights: Optional[_Path] = ..., device: str = "auto", precision: str = "tf32",
               batch_size: int = 30, verbose: int = 1, **options: Any) -> Model: ...
