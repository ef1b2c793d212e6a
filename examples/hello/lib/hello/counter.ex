defmodule Hello.Counter do
  @moduledoc "A counter kept in a GenServer: its state lives as long as the node, so restarts reset it."

  use GenServer

  def start_link(initial) when is_integer(initial) do
    GenServer.start_link(__MODULE__, initial, name: __MODULE__)
  end

  @doc "Adds one and returns the new value."
  def hit, do: GenServer.call(__MODULE__, :hit)

  @doc "The current value."
  def value, do: GenServer.call(__MODULE__, :value)

  @impl true
  def init(initial), do: {:ok, initial}

  @impl true
  def handle_call(:hit, _from, n), do: {:reply, n + 1, n + 1}
  def handle_call(:value, _from, n), do: {:reply, n, n}
end
