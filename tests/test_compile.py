"""The torch.compile path (CompileCB) on the CPU: same losses as eager, plain weights in checkpoints, curation on top.

The `aot_eager` backend traces the model with TorchDynamo and AOTAutograd, as on a GPU, without generating C++ or
Triton code, so the check takes seconds; it catches graph breaks that fail, and state that compilation would
rename or hide from checkpoints."""
import pytest, torch
from batch_curation.data import procedural_dataset, DeviceBatches
from batch_curation.augment import SimCLRAugment
from batch_curation.simclr import SimCLRModel, conv_backbone, simclr_head, NTXentLoss
from batch_curation.learner import Learner, LossRecorderCB, CompileCB, ChannelsLastCB, learner_state
from batch_curation.curation import make_curation

DS = procedural_dataset(n_train_per_class=16, n_test_per_class=2, size=16)


def fit(compiled, scheme='none', epochs=2):
    torch.manual_seed(0); torch._dynamo.reset()
    model = SimCLRModel(conv_backbone((8, 16)), simclr_head(16, 32, 16))
    cbs = [LossRecorderCB(), ChannelsLastCB(), *make_curation(scheme, data=DS, **({'warmup_epochs': 0.5} if scheme != 'none' else {}))]
    if compiled: cbs.append(CompileCB(backend='aot_eager'))
    learn = Learner(model, DeviceBatches(DS.train_x, 32, y=DS.train_y, seed=0), SimCLRAugment(size=16), NTXentLoss(0.5),
                    lr=0.05, cbs=cbs, seed=0)
    learn.fit(epochs)
    return learn, learn.step_losses


@pytest.mark.parametrize('scheme', ['none', 'batch', 'mask'])
def test_compiled_matches_eager(scheme):
    eager, l_eager = fit(False, scheme)
    torch._dynamo.utils.counters.clear()
    comp, l_comp = fit(True, scheme)
    assert torch._dynamo.utils.counters['stats']['unique_graphs'] >= 1  # the forward really went through the compiler
    assert len(l_comp) == len(l_eager) > 0
    torch.testing.assert_close(torch.tensor(l_comp), torch.tensor(l_eager), rtol=1e-4, atol=1e-4)
    assert comp.model_fn is comp.model  # CompileCB hands the plain model back after the fit
    keys = set(learner_state(comp, 2)['model'])
    assert keys == set(eager.model.state_dict()) and not any('_orig_mod' in k for k in keys)
    for a, b in zip(comp.model.parameters(), eager.model.parameters()): torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)
