"""The PyTorch side of the course, installed as `xlbridge.models`.

Every file here imports torch and numpy only, never the rest of xlbridge: the workbook side
depends on the models, not the reverse. One idea per file:

    collab.py       DotProduct, DotProductBias: the lesson's dot-product models
    collab_nn.py    CollabNN, EmbeddingNN, EmbeddingNet: the neural collaborative filters
    line.py         the points y = a*x + b + noise the gradient-descent lesson fits (numpy only)
    linear.py       y = a*x + b fitted by torch.optim, and by the step functions below
    optimizers.py   each optimizer's step as a pure function over arrays
    schedule.py     the one-cycle schedules (fastai's fit_one_cycle, torch's OneCycleLR)
    training.py     the one training loop every model uses
    checkpoint.py   saving and loading models without executing anything from the file
    char_rnn.py     the char-RNN lesson's models
    generate.py     text from a char-RNN, one character at a time
    device.py       CUDA when present, CPU otherwise
"""
