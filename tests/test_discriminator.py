"""The search's discriminator on tiny data: it can tell a worse student, and its gradient reaches
the generator."""

import copy
import math

import torch

from recbole_gcnprune.pruning.discriminator import (
    PANEL_TOP,
    PanelDiscriminator,
    Panels,
    discriminator_loss,
)
from recbole_gcnprune.pruning.gan_search import (
    DISCRIMINATOR_ACCURACY_CAP,
    AdversarialMaskSearch,
    SearchSettings,
)


def _teacher(model):
    model.eval()
    with torch.no_grad():
        return tuple(t.detach() for t in model.forward())


def test_a_teachers_panel_is_a_set_with_the_users_top_items_first(tiny_gcn):
    user_e, item_e = _teacher(tiny_gcn[3])
    panels = Panels(user_e, item_e)
    users, shared = torch.tensor([1, 2]), torch.arange(10)
    items = panels.items(users, shared)
    assert items.shape == (2, PANEL_TOP + 10)
    pairs, real = panels.teacher_side(users, shared)
    # the pair features sum to the teacher's (standardised) scores up to a shift per user
    torch.testing.assert_close(real, (pairs.sum(2) - pairs.sum(2).mean(1, keepdim=True)))
    shuffled = torch.randperm(items.shape[1])
    discriminator = PanelDiscriminator(user_e.shape[1])
    torch.testing.assert_close(discriminator(pairs, real),
                               discriminator(pairs[:, shuffled], real[:, shuffled]))


def test_it_leaves_chance_when_the_student_is_visibly_worse(tiny_gcn):
    user_e, item_e = _teacher(tiny_gcn[3])
    keep_one = torch.zeros(user_e.shape[1])
    keep_one[0] = 1.0  # the student keeps 1 of 8 channels
    student_user, student_item = user_e * keep_one, item_e * keep_one
    panels = Panels(user_e, item_e)
    torch.manual_seed(0)
    discriminator = PanelDiscriminator(user_e.shape[1])
    optimiser = torch.optim.Adam(discriminator.parameters(), lr=0.01)
    users = torch.arange(1, user_e.shape[0])
    for step in range(150):
        shared = torch.randint(item_e.shape[0], (48,))
        pairs, real = panels.teacher_side(users, shared)
        fake = panels.student_scores(users, shared, student_user, student_item)
        loss, accuracy = discriminator_loss(discriminator(pairs, real), discriminator(pairs, fake))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert loss.item() < 2 * math.log(2) - 0.5
    assert accuracy > 0.8


def _search(model, epochs=1, adv_weight=1.0, distill_weight=0.0, budget_weight=0.0):
    """A frozen-student search over 2 buckets per side, half the parameters kept."""
    settings = SearchSettings(epochs=epochs, keep_fraction=0.5, allocation="global",
                              adv_weight=adv_weight, distill_weight=distill_weight,
                              budget_weight=budget_weight, student_lr=0.0,
                              generator_lr=0.01, discriminator_lr=0.01)
    student = copy.deepcopy(model)
    student.split_into_buckets(2)
    return AdversarialMaskSearch(student, _teacher(model), settings)


def test_its_gradient_reaches_the_generators_logits(tiny_gcn):
    config, _, (train, _, _), model = tiny_gcn
    search = _search(model)
    batch = next(iter(train))
    search._step(batch, tau=1.0)  # the adversarial term is the whole objective
    grads = [p.grad for p in search.generator.offsets.values()]
    assert all(g is not None for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
    assert search.history == []


def test_it_steps_only_while_its_running_accuracy_is_at_most_the_cap(tiny_gcn):
    config, _, (train, _, _), model = tiny_gcn
    search = _search(model)
    batch = next(iter(train))

    def step_from(running_accuracy):
        search.discriminator_accuracy = running_accuracy
        before = copy.deepcopy(search.discriminator.state_dict())
        record = search._step(batch, tau=1.0)
        unchanged = all(torch.equal(before[k], v)
                        for k, v in search.discriminator.state_dict().items())
        return record["disc_updated"], unchanged

    assert step_from(1.0) == (0.0, True)  # far ahead of the generator: it waits
    assert step_from(DISCRIMINATOR_ACCURACY_CAP - 0.2) == (1.0, False)


def test_search_logs_discriminator_loss_and_accuracy_per_epoch(tiny_gcn):
    config, _, (train, _, _), model = tiny_gcn
    search = _search(model, epochs=2, adv_weight=0.1, distill_weight=1.0, budget_weight=10.0)
    search.run(train)
    assert len(search.history) == 2
    for record in search.history:
        assert 0 <= record["disc_accuracy"] <= 1 and record["disc"] > 0
        assert 0 <= record["disc_updated"] <= 1


def test_a_student_equal_to_the_teacher_scores_its_panel_as_the_teacher(tiny_gcn):
    user_e, item_e = _teacher(tiny_gcn[3])
    panels = Panels(user_e, item_e)
    users, shared = torch.tensor([1, 2, 3]), torch.arange(20)
    _, real = panels.teacher_side(users, shared)
    torch.testing.assert_close(panels.student_scores(users, shared, user_e, item_e), real)
