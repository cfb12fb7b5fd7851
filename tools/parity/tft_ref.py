"""Temporal Fusion Transformer in plain torch.nn, written from ../shared/specs/tft.md, for the parity fixtures of
wrt-models' TFT. Two models share the name (spec section 3 and 4); neither imports Lightning or
pytorch-forecasting, but module names and registration order are the originals', so `state_dict()` keys and their
order are equal to the original models'.

(A) `TemporalFusionTransformerLightning`: the seed's V1 model (`tft_lightning_model.py`; Lightning wrapper, training
    hooks and `save_hyperparameters` left out, `criterion` kept: it has no state).

    input_projection                    Linear(I, H)
    lstm                                nn.LSTM(H, H, num_layers=L, batch_first, bidirectional, dropout p if L > 1)
    self_attention.W_q / W_k / W_v / W_o  Linear(D, D), D = 2H; standard MHA, d_k = D / heads, dropout p on the
                                        attention probabilities
    enrichment_grn, output_grn          SeedGatedResidualNetwork(D, D, D, p): fc1, fc2, [context_fc], gate_fc,
                                        layer_norm, dropout, [skip_layer] in that registration order
    output_layer                        Linear(D, O)   (registered before layer_norm, as in the seed)
    layer_norm                          LayerNorm(D)
    dropout                             Dropout(p)     (no parameters)

    forward(x [B, W, I]) -> [B, O]: xp = input_projection(x); s = lstm(xp) (zero state); a = MHA(s, s, s) (no mask);
    s = layer_norm(s + dropout(a)); z = s[:, -1]; output_layer(output_grn(enrichment_grn(z))).
    V1 GRN: a = ELU(fc1(x) [+ context_fc(c)]); a = dropout(fc2(a)); out = layer_norm(sigmoid(gate_fc(a)) * a + skip),
    skip = skip_layer(x) if input != output else x (gate_fc reads the post-fc2 vector, so hidden must equal output).

(B) `TemporalFusionTransformer`: the canonical TFT exactly as pytorch-forecasting 1.8.0 builds it
    (`models/temporal_fusion_transformer/_tft.py` and `sub_modules.py`), without the BaseModel machinery (no loss
    module, no target normaliser: `prediction` is the raw output_layer value, i.e. pytorch-forecasting's with
    target_scale (center 0, scale 1) and an identity normaliser). State dict, in order:

    input_embeddings.embeddings.{cat}.weight   [n_classes, min(emb_dim, H)]   (MultiEmbedding caps at hidden_size)
    prescalers.{real}.{weight,bias}            Linear(1, Hc) for reals = static_reals + known_reals + unknown_reals
    static_variable_selection.*                VSN over static_categoricals + static_reals, no context
    encoder_variable_selection.*               VSN over known_reals + unknown_reals, context H
    decoder_variable_selection.*               VSN over known_reals, context H
        VSN: flattened_grn = GRN(sum sizes, min(H, n), n, p, context) (only if n > 1),
             single_variable_grns.{name} = ResampleNorm(emb, H) for categoricals, GRN(Hc, min(Hc, H), H, p) for reals,
             prescalers.{real} = THE SAME Linear modules as the top-level prescalers (listed again in state_dict)
    static_context_variable_selection / static_context_initial_hidden_lstm / static_context_initial_cell_lstm /
    static_context_enrichment                  GRN(H, H, H, p)
    lstm_encoder, lstm_decoder                 LSTM(H, H, lstm_layers, batch_first, dropout p if layers > 1),
                                               packed by lengths (pytorch-forecasting's rnn.LSTM)
    post_lstm_gate_encoder (= post_lstm_gate_decoder, one module)      GatedLinearUnit(H, p)
    post_lstm_add_norm_encoder (= post_lstm_add_norm_decoder, one module) AddNorm(H, trainable_add=False)
    static_enrichment                          GRN(H, H, H, p, context H)
    multihead_attn                             InterpretableMultiHeadAttention(heads, H, p)
    post_attn_gate_norm                        GateAddNorm(H, p, trainable_add=False)
    pos_wise_ff                                GRN(H, H, H, p)
    pre_output_gate_norm                       GateAddNorm(H, dropout=None, trainable_add=False)
    output_layer                               Linear(H, Q)

    named_parameters() lists every shared tensor once, under its first name (`prescalers.*`,
    `post_lstm_gate_encoder.*`, `post_lstm_add_norm_encoder.*`); `shared_aliases()` gives the duplicates.

    forward(static_cat [B, n_sc] int64, static_real [B, n_sr], encoder_real [B, Te, n_known + n_unknown] (known
    columns first), decoder_real [B, Td, n_known], encoder_lengths=None, decoder_lengths=None) -> dict:
      prediction [B, Td, Q], attention [B, Td, heads, Te + Td] (pytorch-forecasting returns it split into
      encoder_attention [..., :Te] and decoder_attention [..., Te:]), static_weights [B, 1, n_static] ([B, 0] without
      static variables), encoder_weights [B, Te, 1, n_enc], decoder_weights [B, Td, 1, n_dec].
    Without static variables the static embedding is zeros [B, H] (the four context GRNs still run on it).
    Attention mask (True = blocked, filled with mask_bias -1e9 before the softmax): encoder keys at steps >=
    encoder_length; causal: decoder key j blocked for query i when j >= i (a query never sees its own step);
    non-causal: decoder keys at steps >= decoder_length.
    Lengths: like pytorch-forecasting, Te (resp. Td) must equal max(encoder_lengths) (resp. max(decoder_lengths));
    LSTM outputs at padded steps are 0, and the final encoder state is taken at each series' last valid step.
"""
from copy import deepcopy

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import rnn

MASK_BIAS = -1e9


# --------------------------------------------------------------------------------------------------------------
# (A) the seed's V1 model
# --------------------------------------------------------------------------------------------------------------


class SeedGatedResidualNetwork(nn.Module):
    """The seed V1 GRN (`GatedResidualNetwork` of tft_lightning_model.py)."""

    def __init__(self, input_size, hidden_size, output_size, dropout=0.1, context_size=None):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = output_size
        self.context_size = context_size
        self.fc1 = nn.Linear(input_size, hidden_size)
        self.fc2 = nn.Linear(hidden_size, output_size)
        if context_size is not None:
            self.context_fc = nn.Linear(context_size, hidden_size, bias=False)
        self.gate_fc = nn.Linear(hidden_size, output_size)
        self.layer_norm = nn.LayerNorm(output_size)
        self.dropout = nn.Dropout(dropout)
        self.skip_layer = nn.Linear(input_size, output_size) if input_size != output_size else None

    def forward(self, x, context=None):
        a = self.fc1(x)
        if context is not None and self.context_size is not None:
            a = a + self.context_fc(context)
        a = F.elu(a)
        a = self.fc2(a)
        a = self.dropout(a)
        g = torch.sigmoid(self.gate_fc(a))
        out = g * a
        out = out + (self.skip_layer(x) if self.skip_layer is not None else x)
        return self.layer_norm(out)


class SeedMultiHeadAttention(nn.Module):
    """The seed V1 `MultiHeadAttention`: W_q/W_k/W_v/W_o Linear(D, D), dropout on the attention probabilities."""

    def __init__(self, d_model, num_heads, dropout=0.1):
        super().__init__()
        assert d_model % num_heads == 0
        self.d_model = d_model
        self.num_heads = num_heads
        self.d_k = d_model // num_heads
        self.W_q = nn.Linear(d_model, d_model)
        self.W_k = nn.Linear(d_model, d_model)
        self.W_v = nn.Linear(d_model, d_model)
        self.W_o = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, query, key, value, mask=None):
        b = query.size(0)
        q = self.W_q(query).view(b, -1, self.num_heads, self.d_k).transpose(1, 2)
        k = self.W_k(key).view(b, -1, self.num_heads, self.d_k).transpose(1, 2)
        v = self.W_v(value).view(b, -1, self.num_heads, self.d_k).transpose(1, 2)
        scores = torch.matmul(q, k.transpose(-2, -1)) / (self.d_k**0.5)
        if mask is not None:
            scores = scores.masked_fill(mask == 0, MASK_BIAS)
        attn = self.dropout(F.softmax(scores, dim=-1))
        ctx = torch.matmul(attn, v).transpose(1, 2).contiguous().view(b, -1, self.d_model)
        return self.W_o(ctx), attn


class TemporalFusionTransformerLightning(nn.Module):
    """The seed V1 model (without the LightningModule hooks). `output_size=None` means `input_size`."""

    def __init__(self, input_size, hidden_size=32, num_heads=2, num_lstm_layers=1, dropout=0.1, output_size=None):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_heads = num_heads
        self.output_size = output_size if output_size else input_size
        d = hidden_size * 2
        self.input_projection = nn.Linear(input_size, hidden_size)
        self.lstm = nn.LSTM(input_size=hidden_size, hidden_size=hidden_size, num_layers=num_lstm_layers, batch_first=True,
                            dropout=dropout if num_lstm_layers > 1 else 0, bidirectional=True)
        self.self_attention = SeedMultiHeadAttention(d_model=d, num_heads=num_heads, dropout=dropout)
        self.enrichment_grn = SeedGatedResidualNetwork(d, d, d, dropout=dropout)
        self.output_grn = SeedGatedResidualNetwork(d, d, d, dropout=dropout)
        self.output_layer = nn.Linear(d, self.output_size)
        self.layer_norm = nn.LayerNorm(d)
        self.dropout = nn.Dropout(dropout)
        self.criterion = nn.MSELoss()

    def forward(self, x):
        xp = self.input_projection(x)
        s, _ = self.lstm(xp)
        a, _ = self.self_attention(s, s, s)
        s = self.layer_norm(s + self.dropout(a))
        z = s[:, -1, :]
        z = self.enrichment_grn(z)
        z = self.output_grn(z)
        return self.output_layer(z)


# --------------------------------------------------------------------------------------------------------------
# (B) canonical TFT (pytorch-forecasting)
# --------------------------------------------------------------------------------------------------------------


def interpolate_features(x, output_size):
    """pytorch-forecasting's TimeDistributedInterpolation (trainable=False): linear interpolation along the last
    (feature) axis with align_corners=True, any leading shape."""
    lead = x.shape[:-1]
    y = F.interpolate(x.contiguous().view(-1, x.size(-1)).unsqueeze(1), output_size, mode="linear", align_corners=True).squeeze(1)
    return y.view(*lead, output_size)


class GatedLinearUnit(nn.Module):
    def __init__(self, input_size, hidden_size=None, dropout=None):
        super().__init__()
        self.dropout = nn.Dropout(dropout) if dropout is not None else None
        self.hidden_size = hidden_size or input_size
        self.fc = nn.Linear(input_size, self.hidden_size * 2)
        for n, p in self.named_parameters():
            if "bias" in n:
                nn.init.zeros_(p)
            elif "fc" in n:
                nn.init.xavier_uniform_(p)

    def forward(self, x):
        if self.dropout is not None:
            x = self.dropout(x)
        return F.glu(self.fc(x), dim=-1)


class ResampleNorm(nn.Module):
    def __init__(self, input_size, output_size=None, trainable_add=True):
        super().__init__()
        self.input_size = input_size
        self.trainable_add = trainable_add
        self.output_size = output_size or input_size
        if trainable_add:
            self.mask = nn.Parameter(torch.zeros(self.output_size, dtype=torch.float))
        self.norm = nn.LayerNorm(self.output_size)

    def forward(self, x):
        if self.input_size != self.output_size:
            x = interpolate_features(x, self.output_size)
        if self.trainable_add:
            x = x * torch.sigmoid(self.mask) * 2.0
        return self.norm(x)


class AddNorm(nn.Module):
    def __init__(self, input_size, skip_size=None, trainable_add=True):
        super().__init__()
        self.input_size = input_size
        self.trainable_add = trainable_add
        self.skip_size = skip_size or input_size
        if trainable_add:
            self.mask = nn.Parameter(torch.zeros(self.input_size, dtype=torch.float))
        self.norm = nn.LayerNorm(self.input_size)

    def forward(self, x, skip):
        if self.input_size != self.skip_size:
            skip = interpolate_features(skip, self.input_size)
        if self.trainable_add:
            skip = skip * torch.sigmoid(self.mask) * 2.0
        return self.norm(x + skip)


class GateAddNorm(nn.Module):
    def __init__(self, input_size, hidden_size=None, skip_size=None, trainable_add=False, dropout=None):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size or input_size
        self.skip_size = skip_size or self.hidden_size
        self.glu = GatedLinearUnit(self.input_size, hidden_size=self.hidden_size, dropout=dropout)
        self.add_norm = AddNorm(self.hidden_size, skip_size=self.skip_size, trainable_add=trainable_add)

    def forward(self, x, skip):
        return self.add_norm(self.glu(x), skip)


class GatedResidualNetwork(nn.Module):
    """pytorch-forecasting's GRN: LayerNorm(GLU(dropout(fc2(ELU(fc1(x) + context(c))))) + resample_norm(x))."""

    def __init__(self, input_size, hidden_size, output_size, dropout=0.1, context_size=None, residual=False):
        super().__init__()
        self.input_size = input_size
        self.output_size = output_size
        self.context_size = context_size
        self.hidden_size = hidden_size
        self.residual = residual
        residual_size = input_size if (input_size != output_size and not residual) else output_size
        if output_size != residual_size:
            self.resample_norm = ResampleNorm(residual_size, output_size)
        self.fc1 = nn.Linear(input_size, hidden_size)
        self.elu = nn.ELU()
        if context_size is not None:
            self.context = nn.Linear(context_size, hidden_size, bias=False)
        self.fc2 = nn.Linear(hidden_size, hidden_size)
        for name, p in self.named_parameters():  # before gate_norm exists, as in the original
            if "bias" in name:
                nn.init.zeros_(p)
            elif "fc1" in name or "fc2" in name:
                nn.init.kaiming_normal_(p, a=0, mode="fan_in", nonlinearity="leaky_relu")
            elif "context" in name:
                nn.init.xavier_uniform_(p)
        self.gate_norm = GateAddNorm(input_size=hidden_size, skip_size=output_size, hidden_size=output_size, dropout=dropout, trainable_add=False)

    def forward(self, x, context=None, residual=None):
        if residual is None:
            residual = x
        if self.input_size != self.output_size and not self.residual:
            residual = self.resample_norm(residual)
        x = self.fc1(x)
        if context is not None:
            x = x + self.context(context)
        x = self.elu(x)
        x = self.fc2(x)
        return self.gate_norm(x, residual)


class VariableSelectionNetwork(nn.Module):
    def __init__(self, input_sizes, hidden_size, input_embedding_flags=None, dropout=0.1, context_size=None, prescalers=None):
        super().__init__()
        self.hidden_size = hidden_size
        self.input_sizes = input_sizes
        self._input_embedding_flags = {} if input_embedding_flags is None else deepcopy(input_embedding_flags)
        self.context_size = context_size
        n = len(input_sizes)
        if n > 1:
            self.flattened_grn = GatedResidualNetwork(sum(input_sizes.values()), min(hidden_size, n), n, dropout, context_size, residual=False)
        self.single_variable_grns = nn.ModuleDict()
        self.prescalers = nn.ModuleDict()
        prescalers = {} if prescalers is None else prescalers
        for name, size in input_sizes.items():
            if self._input_embedding_flags.get(name, False):
                self.single_variable_grns[name] = ResampleNorm(size, hidden_size)
            else:
                self.single_variable_grns[name] = GatedResidualNetwork(size, min(size, hidden_size), output_size=hidden_size, dropout=dropout)
            if name in prescalers:
                self.prescalers[name] = prescalers[name]
            elif not self._input_embedding_flags.get(name, False):
                self.prescalers[name] = nn.Linear(1, size)

    @property
    def num_inputs(self):
        return len(self.input_sizes)

    def forward(self, x, context=None):
        if self.num_inputs > 1:
            var_outputs, weight_inputs = [], []
            for name in self.input_sizes:
                emb = x[name]
                if name in self.prescalers:
                    emb = self.prescalers[name](emb)
                weight_inputs.append(emb)
                var_outputs.append(self.single_variable_grns[name](emb))
            var_outputs = torch.stack(var_outputs, dim=-1)
            sparse_weights = self.flattened_grn(torch.cat(weight_inputs, dim=-1), context)
            sparse_weights = torch.softmax(sparse_weights, dim=-1).unsqueeze(-2)
            outputs = (var_outputs * sparse_weights).sum(dim=-1)
        elif self.num_inputs == 1:
            name = next(iter(self.single_variable_grns.keys()))
            emb = x[name]
            if name in self.prescalers:
                emb = self.prescalers[name](emb)
            outputs = self.single_variable_grns[name](emb)
            if outputs.ndim == 3:
                sparse_weights = torch.ones(outputs.size(0), outputs.size(1), 1, 1, device=outputs.device)
            else:
                sparse_weights = torch.ones(outputs.size(0), 1, 1, device=outputs.device)
        else:
            outputs = torch.zeros(context.size(), device=context.device)
            if outputs.ndim == 3:
                sparse_weights = torch.zeros(outputs.size(0), outputs.size(1), 1, 0, device=outputs.device)
            else:
                sparse_weights = torch.zeros(outputs.size(0), 1, 0, device=outputs.device)
        return outputs, sparse_weights


class InterpretableMultiHeadAttention(nn.Module):
    """Shared v_layer, per-head q/k layers; head_i = dropout(softmax(mask(q_i k_i^T / sqrt(d_k))) v) (no dropout on
    the probabilities); out = dropout(w_h(mean_i head_i)); weights stacked [B, Tq, heads, Tk]."""

    def __init__(self, n_head, d_model, dropout=0.0, mask_bias=MASK_BIAS):
        super().__init__()
        self.n_head = n_head
        self.d_model = d_model
        self.mask_bias = mask_bias
        self.d_k = self.d_q = self.d_v = d_model // n_head
        self.dropout = nn.Dropout(p=dropout)
        self.v_layer = nn.Linear(d_model, self.d_v)
        self.q_layers = nn.ModuleList([nn.Linear(d_model, self.d_q) for _ in range(n_head)])
        self.k_layers = nn.ModuleList([nn.Linear(d_model, self.d_k) for _ in range(n_head)])
        self.w_h = nn.Linear(self.d_v, d_model, bias=False)
        for name, p in self.named_parameters():
            if "bias" not in name:
                nn.init.xavier_uniform_(p)
            else:
                nn.init.zeros_(p)

    def attention(self, q, k, v, mask):
        attn = torch.bmm(q, k.permute(0, 2, 1))
        attn = attn / torch.as_tensor(k.size(-1), dtype=attn.dtype, device=attn.device).sqrt()
        if mask is not None:
            attn = attn.masked_fill(mask, self.mask_bias)
        attn = torch.softmax(attn, dim=2)
        return torch.bmm(attn, v), attn

    def forward(self, q, k, v, mask=None):
        heads, attns = [], []
        vs = self.v_layer(v)
        for i in range(self.n_head):
            head, attn = self.attention(self.q_layers[i](q), self.k_layers[i](k), vs, mask)
            heads.append(self.dropout(head))
            attns.append(attn)
        head = torch.stack(heads, dim=2) if self.n_head > 1 else heads[0]
        attn = torch.stack(attns, dim=2)
        out = torch.mean(head, dim=2) if self.n_head > 1 else head
        return self.dropout(self.w_h(out)), attn


class LengthLSTM(nn.LSTM):
    """pytorch-forecasting's rnn.LSTM: with `lengths`, the batch is packed (enforce_sorted=False), so padded steps
    give output 0 and the returned state is each series' last valid step. Zero lengths are handled as there:
    packed with length 1, then the state is replaced by masked_scatter of the initial *hidden* state (for the cell
    state too: a quirk of the original, kept)."""

    def forward(self, x, hx=None, lengths=None):
        if lengths is None:
            return super().forward(x, hx)
        if int(lengths.max()) == 0:
            zeros = torch.zeros(self.num_layers, x.size(0), self.hidden_size, dtype=x.dtype, device=x.device)
            return torch.zeros(x.size(0), x.size(1), self.hidden_size, dtype=x.dtype, device=x.device), (zeros, zeros.clone())
        pack_lengths = lengths.where(lengths > 0, torch.ones_like(lengths))
        packed, (h, c) = super().forward(rnn.pack_padded_sequence(x, pack_lengths.cpu(), enforce_sorted=False, batch_first=True), hx)
        if int(lengths.min()) == 0:
            no_encoding = (lengths == 0)[None, :, None]
            init = hx if hx is not None else (torch.zeros_like(h), torch.zeros_like(c))
            h = h.masked_scatter(no_encoding, init[0])
            c = c.masked_scatter(no_encoding, init[0])
        out, _ = rnn.pad_packed_sequence(packed, batch_first=True)
        return out, (h, c)


class InputEmbeddings(nn.Module):
    """pytorch-forecasting's MultiEmbedding for named categoricals without groups or padding:
    `embeddings.{name}` = nn.Embedding(n_classes, min(emb_dim, max_embedding_size))."""

    def __init__(self, embedding_sizes, max_embedding_size):
        super().__init__()
        self.embeddings = nn.ModuleDict()
        self.output_size = {}
        for name, (n, dim) in embedding_sizes.items():
            dim = min(dim, max_embedding_size)
            self.embeddings[name] = nn.Embedding(n, dim)
            self.output_size[name] = dim

    def forward(self, x, names):
        """x [..., len(names)] int64, columns in `names` order -> {name: [..., dim]}."""
        return {name: self.embeddings[name](x[..., names.index(name)]) for name in self.embeddings}


class TemporalFusionTransformer(nn.Module):
    """The canonical TFT, pytorch-forecasting's module tree and forward (see the module docstring)."""

    def __init__(self, hidden_size=16, attention_head_size=4, hidden_continuous_size=8, lstm_layers=1, dropout=0.1, output_size=7,
                 static_categoricals=None, static_reals=(), known_reals=(), unknown_reals=(), causal_attention=True, mask_bias=MASK_BIAS):
        super().__init__()
        H, Hc = hidden_size, hidden_continuous_size
        self.hidden_size = H
        self.lstm_layers = lstm_layers
        self.causal_attention = causal_attention
        self.static_categoricals = list((static_categoricals or {}).keys())
        self.static_reals = list(static_reals)
        self.known_reals = list(known_reals)
        self.unknown_reals = list(unknown_reals)
        self.reals = list(dict.fromkeys(self.static_reals + self.known_reals + self.unknown_reals))
        self.static_variables = self.static_categoricals + self.static_reals
        self.encoder_variables = self.known_reals + self.unknown_reals
        self.decoder_variables = list(self.known_reals)

        self.input_embeddings = InputEmbeddings(static_categoricals or {}, max_embedding_size=H)
        self.prescalers = nn.ModuleDict({name: nn.Linear(1, Hc) for name in self.reals})

        static_sizes = {name: self.input_embeddings.output_size[name] for name in self.static_categoricals}
        static_sizes.update({name: Hc for name in self.static_reals})
        self.static_variable_selection = VariableSelectionNetwork(static_sizes, H, input_embedding_flags=dict.fromkeys(self.static_categoricals, True),
                                                                  dropout=dropout, prescalers=self.prescalers)
        self.encoder_variable_selection = VariableSelectionNetwork({name: Hc for name in self.encoder_variables}, H, input_embedding_flags={},
                                                                   dropout=dropout, context_size=H, prescalers=self.prescalers)
        self.decoder_variable_selection = VariableSelectionNetwork({name: Hc for name in self.decoder_variables}, H, input_embedding_flags={},
                                                                   dropout=dropout, context_size=H, prescalers=self.prescalers)
        self.static_context_variable_selection = GatedResidualNetwork(H, H, H, dropout)
        self.static_context_initial_hidden_lstm = GatedResidualNetwork(H, H, H, dropout)
        self.static_context_initial_cell_lstm = GatedResidualNetwork(H, H, H, dropout)
        self.static_context_enrichment = GatedResidualNetwork(H, H, H, dropout)
        lstm_dropout = dropout if lstm_layers > 1 else 0
        self.lstm_encoder = LengthLSTM(input_size=H, hidden_size=H, num_layers=lstm_layers, dropout=lstm_dropout, batch_first=True)
        self.lstm_decoder = LengthLSTM(input_size=H, hidden_size=H, num_layers=lstm_layers, dropout=lstm_dropout, batch_first=True)
        self.post_lstm_gate_encoder = GatedLinearUnit(H, dropout=dropout)
        self.post_lstm_gate_decoder = self.post_lstm_gate_encoder
        self.post_lstm_add_norm_encoder = AddNorm(H, trainable_add=False)
        self.post_lstm_add_norm_decoder = self.post_lstm_add_norm_encoder
        self.static_enrichment = GatedResidualNetwork(H, H, H, dropout, context_size=H)
        self.multihead_attn = InterpretableMultiHeadAttention(n_head=attention_head_size, d_model=H, dropout=dropout, mask_bias=mask_bias)
        self.post_attn_gate_norm = GateAddNorm(H, dropout=dropout, trainable_add=False)
        self.pos_wise_ff = GatedResidualNetwork(H, H, H, dropout=dropout)
        self.pre_output_gate_norm = GateAddNorm(H, dropout=None, trainable_add=False)
        self.output_layer = nn.Linear(H, output_size)

    def shared_aliases(self):
        """[(duplicate state_dict key, primary key)] for the modules registered under two names."""
        sd = self.state_dict(keep_vars=True)
        first = {}
        pairs = []
        for k, v in sd.items():
            if id(v) in first:
                pairs.append((k, first[id(v)]))
            else:
                first[id(v)] = k
        return pairs

    def attention_mask(self, encoder_lengths, decoder_lengths, te, td):
        if self.causal_attention:
            attend_step = torch.arange(td)
            predict_step = torch.arange(td)[:, None]
            decoder_mask = (attend_step >= predict_step).unsqueeze(0).expand(encoder_lengths.size(0), -1, -1)
        else:
            decoder_mask = (torch.arange(td)[None] >= decoder_lengths[:, None]).unsqueeze(1).expand(-1, td, -1)
        encoder_mask = (torch.arange(te)[None] >= encoder_lengths[:, None]).unsqueeze(1).expand(-1, td, -1)
        return torch.cat([encoder_mask, decoder_mask], dim=2)

    def forward(self, static_cat, static_real, encoder_real, decoder_real, encoder_lengths=None, decoder_lengths=None):
        B, Te, Td = encoder_real.size(0), encoder_real.size(1), decoder_real.size(1)
        T = Te + Td
        if encoder_lengths is None:
            encoder_lengths = torch.full((B,), Te, dtype=torch.long)
        if decoder_lengths is None:
            decoder_lengths = torch.full((B,), Td, dtype=torch.long)
        assert int(encoder_lengths.max()) == Te and int(decoder_lengths.max()) == Td, "Te / Td must be the longest lengths"
        nk = len(self.known_reals)
        assert encoder_real.size(2) == nk + len(self.unknown_reals) and decoder_real.size(2) == nk

        # input vectors: reals [.., 1] each; static variables at "time 0" (pytorch-forecasting takes x[:, 0])
        vec = {}
        if self.static_categoricals:
            vec.update(self.input_embeddings(static_cat, self.static_categoricals))
        for i, name in enumerate(self.static_reals):
            vec[name] = static_real[:, i : i + 1]
        enc = {name: encoder_real[..., i : i + 1] for i, name in enumerate(self.encoder_variables)}
        dec = {name: decoder_real[..., i : i + 1] for i, name in enumerate(self.decoder_variables)}

        if self.static_variables:
            static_embedding, static_weights = self.static_variable_selection({name: vec[name] for name in self.static_variables})
        else:
            static_embedding = torch.zeros(B, self.hidden_size, dtype=encoder_real.dtype)
            static_weights = torch.zeros(B, 0, dtype=encoder_real.dtype)

        c_sel = self.static_context_variable_selection(static_embedding)[:, None].expand(-1, T, -1)
        emb_enc, enc_weights = self.encoder_variable_selection(enc, c_sel[:, :Te])
        emb_dec, dec_weights = self.decoder_variable_selection(dec, c_sel[:, Te:])

        h0 = self.static_context_initial_hidden_lstm(static_embedding).expand(self.lstm_layers, -1, -1)
        c0 = self.static_context_initial_cell_lstm(static_embedding).expand(self.lstm_layers, -1, -1)
        enc_out, (h, c) = self.lstm_encoder(emb_enc, (h0, c0), lengths=encoder_lengths)
        dec_out, _ = self.lstm_decoder(emb_dec, (h, c), lengths=decoder_lengths)

        lstm_enc = self.post_lstm_add_norm_encoder(self.post_lstm_gate_encoder(enc_out), emb_enc)
        lstm_dec = self.post_lstm_add_norm_decoder(self.post_lstm_gate_decoder(dec_out), emb_dec)
        lstm_output = torch.cat([lstm_enc, lstm_dec], dim=1)

        c_enr = self.static_context_enrichment(static_embedding)
        attn_input = self.static_enrichment(lstm_output, c_enr[:, None].expand(-1, T, -1))
        attn_output, attn_weights = self.multihead_attn(q=attn_input[:, Te:], k=attn_input, v=attn_input,
                                                        mask=self.attention_mask(encoder_lengths, decoder_lengths, Te, Td))
        attn_output = self.post_attn_gate_norm(attn_output, attn_input[:, Te:])
        output = self.pos_wise_ff(attn_output)
        output = self.pre_output_gate_norm(output, lstm_output[:, Te:])
        return {
            "prediction": self.output_layer(output),
            "attention": attn_weights,
            "static_weights": static_weights,
            "encoder_weights": enc_weights,
            "decoder_weights": dec_weights,
        }


def quantile_loss(prediction, target, quantiles):
    """pytorch-forecasting QuantileLoss with full lengths: mean over [B, Td, Q] of 2 max(q e, (q - 1) e),
    e = target - prediction[..., q]."""
    losses = []
    for i, q in enumerate(quantiles):
        e = target - prediction[..., i]
        losses.append(torch.max((q - 1) * e, q * e).unsqueeze(-1))
    return (2 * torch.cat(losses, dim=2)).mean()
