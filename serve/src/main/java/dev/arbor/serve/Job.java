package dev.arbor.serve;

import dev.arbor.model.Sequence;
import dev.arbor.model.sample.Sampler;
import dev.arbor.model.sample.SamplingParams;
import dev.arbor.model.sample.TextStream;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * One request's generation, advanced one token per scheduler step. The token and text logic is
 * the {@link dev.arbor.model.sample.Generator}'s, step by step (the text through the same
 * {@link TextStream}), so a request gives exactly what
 * {@code Generator.generate} gives for the same prompt and parameters: the same ids, the same
 * text (cut before a stop string), and streamed pieces that concatenate to it.
 * Touched only by the scheduler thread once submitted (except {@link #cancel}).
 */
final class Job {
    enum Finish { EOS, STOP, LENGTH }

    /** Receives a job's progress, on the scheduler thread. */
    interface Listener {
        void onStart();                                    // prefill done, first token about to be sampled
        void onText(String piece, List<TokenLogprob> logprobs);
        void onDone(Job job);
        void onError(RuntimeException e);
    }

    /** A generated token's log-probability and the most likely alternatives (when asked for). */
    record TokenLogprob(int id, String token, double logprob, int[] topIds, String[] topTokens, double[] topLogprobs) {}

    final Deployment deployment;
    final int[] prompt;
    final SamplingParams params;
    final int topLogprobs;              // -1: no logprobs
    final Listener listener;
    final long submittedNanos = System.nanoTime();
    final long deadlineNanos;
    long firstTokenNanos;

    private final Sampler sampler;
    private final TextStream text;
    Sequence seq;
    private int[] out;
    private int n;
    private int next = -1;               // the token to feed at the next step
    private final List<TokenLogprob> pendingLogprobs = new ArrayList<>();
    volatile boolean cancelled;
    Finish finish;

    Job(Deployment deployment, int[] prompt, SamplingParams params, int topLogprobs, long timeoutNanos, Listener listener) {
        this.deployment = deployment;
        this.prompt = prompt;
        this.params = params;
        this.topLogprobs = topLogprobs;
        this.listener = listener;
        this.deadlineNanos = submittedNanos + timeoutNanos;
        this.sampler = new Sampler(params);
        this.out = new int[Math.max(1, Math.min(params.maxTokens(), 256))];
        this.text = new TextStream(deployment.tokenizer.detokenizer(true), params.stop());
    }

    void cancel() { cancelled = true; }

    /** Tokens for the next forward: the prompt first, then the last sampled token. */
    int[] nextTokens() {
        if (seq == null) {
            seq = deployment.model.newSequence();
            return prompt;
        }
        return new int[]{next};
    }

    int[] ids() { return Arrays.copyOf(out, n); }

    int generated() { return n; }

    String text() { return text.text(); }

    /** Samples from the step's logits; returns true when the job is finished. */
    boolean accept(float[] logits) {
        if (n == 0 && firstTokenNanos == 0) {
            firstTokenNanos = System.nanoTime();
            listener.onStart();
        }
        int id = sampler.sample(logits);
        if (params.eosIds().contains(id)) {
            finish = Finish.EOS;
            end();
            return true;
        }
        if (n == out.length) out = Arrays.copyOf(out, Math.min(Math.max(params.maxTokens(), 1), 2 * out.length));
        out[n++] = id;
        sampler.accept(id);
        if (topLogprobs >= 0) pendingLogprobs.add(logprob(logits, id));
        String piece = text.push(id);
        if (text.stopped()) {
            finish = Finish.STOP;
            emitLast(piece);
            return true;
        }
        if (!piece.isEmpty()) emit(piece);
        if (n == params.maxTokens() || seq.length() >= deployment.model.maxPositions()) {
            finish = Finish.LENGTH;
            end();
            return true;
        }
        next = id;
        return false;
    }

    /** Releases the held-back text (a stop string may complete in it) and any logprobs not yet sent. */
    private void end() {
        String rest = text.finish();
        if (text.stopped()) finish = Finish.STOP;
        emitLast(rest);
    }

    /** The job's last piece: sent if it has text or logprobs still to go. */
    private void emitLast(String piece) {
        if (!piece.isEmpty() || !pendingLogprobs.isEmpty()) emit(piece);
    }

    private void emit(String piece) {
        List<TokenLogprob> lp = pendingLogprobs.isEmpty() ? List.of() : List.copyOf(pendingLogprobs);
        pendingLogprobs.clear();
        listener.onText(piece, lp);
    }

    /** log-softmax of the raw logits at id, with the top alternatives. */
    private TokenLogprob logprob(float[] logits, int id) {
        double max = Double.NEGATIVE_INFINITY;
        for (float x : logits) max = Math.max(max, x);
        double sum = 0;
        for (float x : logits) sum += Math.exp(x - max);
        double lse = max + Math.log(sum);
        int k = Math.min(topLogprobs, logits.length);
        int[] top = new int[k];
        Arrays.fill(top, -1);
        for (int i = 0; i < logits.length; i++) {
            for (int j = 0; j < k; j++) {
                if (top[j] < 0 || logits[i] > logits[top[j]]) {
                    System.arraycopy(top, j, top, j + 1, k - j - 1);
                    top[j] = i;
                    break;
                }
            }
        }
        String[] topTok = new String[k];
        double[] topLp = new double[k];
        for (int j = 0; j < k; j++) {
            topTok[j] = deployment.tokenizer.decode(new int[]{top[j]}, false);
            topLp[j] = logits[top[j]] - lse;
        }
        return new TokenLogprob(id, deployment.tokenizer.decode(new int[]{id}, false), logits[id] - lse, top, topTok, topLp);
    }
}
