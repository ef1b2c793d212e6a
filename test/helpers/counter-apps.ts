// The gen_server counter the hot-upgrade tests build in two or three versions: its state must survive an upgrade,
// and `step` tells which version's code answers.

/** An Erlang gen_server `<app>_counter` whose `bump/0` adds `step`; `codeChange` is its code_change/3 result. */
export function erlangCounter(app: string, step: number, codeChange = '{ok, N}'): string {
  return `-module(${app}_counter).
-behaviour(gen_server).
-export([start_link/0, bump/0, init/1, handle_call/3, handle_cast/2, code_change/3]).
start_link() -> gen_server:start_link({local, ?MODULE}, ?MODULE, 0, []).
bump() -> gen_server:call(?MODULE, bump).
init(N) -> {ok, N}.
handle_call(bump, _From, N) -> {reply, N + ${step}, N + ${step}}.
handle_cast(_, N) -> {noreply, N}.
code_change(_, N, _) -> ${codeChange}.
`;
}

/** An Elixir GenServer `module` whose `bump/0` adds `step`; with `codeChange`, a code_change/3 returning it. */
export function elixirCounter(module: string, step: number, codeChange?: string): string {
  const change = codeChange === undefined ? '' : `  @impl true\n  def code_change(_old, n, _extra), do: ${codeChange}\n`;
  return `defmodule ${module} do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, 0, name: __MODULE__)
  def bump, do: GenServer.call(__MODULE__, :bump)
  @impl true
  def init(n), do: {:ok, n}
  @impl true
  def handle_call(:bump, _from, n), do: {:reply, n + ${step}, n + ${step}}
${change}end
`;
}
