// Tests run the kernels as the CLI does: the fused multiply-add build (see enableRelaxedSimd).
import { enableRelaxedSimd } from '@attnflow/kernels';

enableRelaxedSimd();
