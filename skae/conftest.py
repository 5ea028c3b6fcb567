# Doctests in the package train small networks; keep them single-threaded.
import torch

torch.set_num_threads(1)
