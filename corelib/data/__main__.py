"""`python -m corelib.data DIR`: download CIFAR-10 into DIR and verify it (`corelib.data.cifar10.main`)."""
import sys

from .cifar10 import main

sys.exit(main())
