def mse_loss(pred, target):
    """Sum of squared errors and its gradient with respect to each prediction."""
    loss = sum((p - t) ** 2 for p, t in zip(pred, target))
    grads = [2.0 * (p - t) for p, t in zip(pred, target)]
    return loss, grads
